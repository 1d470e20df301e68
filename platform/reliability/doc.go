// Package reliability holds the end-to-end tests of reliable messaging:
// outbox, relay, JetStream and inbox together, against real databases and a
// real broker, through outages, crashes, duplicates, poison messages and
// kill -9 (the list of issue 3, "Tests that must exist"). It has no code of
// its own.
package reliability
