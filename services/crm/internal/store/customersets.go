package store

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// customerSets keeps, for CustomerSetTTL, the customers PlanCustomers found
// for a set of words (the intersection of their customer tokens): a manager
// paging through a search, and the next searches of the same words, read it
// once (it was most of a company search's PostgreSQL time, 2-4 ms). Unlike
// the words' counts a page's completeness rests on it, so it is dropped as
// soon as a customer may have gained a token that one of its words is a
// prefix of (ForgetCustomerTokens, on every replica through the cache bus);
// the TTL bounds it while another replica's invalidations cannot reach
// this one (the broker away).
// Orders' events that add no customer token (all but order.placed) keep it.
// A set read while tokens were being forgotten is not kept (the
// generation): it may predate them.
type customerSets struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, customerSet]
	gen uint64 // bumped by every ForgetCustomerTokens
}

// customerSet is what CandidateCustomers found for words.
type customerSet struct {
	words []string
	ids   []string
	n     int // rows read, at most the limit and one
	at    time.Time
}

// CustomerSetTTL is how long a set of customers is kept.
const CustomerSetTTL = 5 * time.Second

func newCustomerSets(size int) *customerSets {
	lru, _ := simplelru.NewLRU[string, customerSet](size, nil) // fails only for size < 1
	return &customerSets{lru: lru}
}

func customerSetKey(words []string, limit int) string {
	return strconv.Itoa(limit) + "/" + strings.Join(words, " ")
}

func (c *customerSets) get(words []string, limit int, now time.Time) (customerSet, bool) {
	if c == nil {
		return customerSet{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.lru.Get(customerSetKey(words, limit))
	if !ok || now.Sub(s.at) >= CustomerSetTTL {
		return customerSet{}, false
	}
	return s, true
}

// generation is the generation to give put for a set about to be read.
func (c *customerSets) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps a set read from the generation gen on, unless tokens were
// forgotten since.
func (c *customerSets) put(limit int, gen uint64, s customerSet) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.lru.Add(customerSetKey(s.words, limit), s)
	}
}

// ForgetCustomerTokens drops the kept sets of customers that customers
// gaining tokens may have changed: those with a word that is a prefix of
// one of tokens; every set when tokens is empty.
func (s *Store) ForgetCustomerTokens(tokens []string) {
	c := s.customers
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(tokens) == 0 {
		c.lru.Purge()
		return
	}
	for _, key := range c.lru.Keys() {
		set, _ := c.lru.Peek(key)
		if matchesAny(set.words, tokens) {
			c.lru.Remove(key)
		}
	}
}

// matchesAny tells whether a word is a prefix of a token (a search word
// matches the tokens it is a prefix of).
func matchesAny(words, tokens []string) bool {
	for _, w := range words {
		for _, t := range tokens {
			if strings.HasPrefix(t, w) {
				return true
			}
		}
	}
	return false
}
