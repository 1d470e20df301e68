package store

// QueueQuery is Queue's query, for the test of its plan.
var QueueQuery = queueQuery()
