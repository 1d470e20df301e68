package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// numbers hands out human-friendly order numbers, S-<year>-<6 digits>, from
// blocks reserved in the database: unique across instances and restarts
// without making every order wait for one counter row. The next block is
// reserved in the background when half of the current one is used, so
// orders rarely wait for a reservation. A restart or a replayed key leaves
// a gap, which nobody minds; across instances numbers are unique, not
// ordered.
type numbers struct {
	st    *store.Store
	block int64

	mu         sync.Mutex
	year       int
	next, last int64
	spare      *span      // the next block, once reserved
	fetching   bool       // a background reservation is running
	ready      *sync.Cond // signalled when a background reservation ends
	fetchErr   error      // of the last background reservation
}

type span struct {
	year        int
	first, last int64
}

func (n *numbers) take(ctx context.Context, year int) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ready == nil {
		n.ready = sync.NewCond(&n.mu)
	}
	for year != n.year || n.next == 0 || n.next > n.last {
		if n.spare != nil && n.spare.year == year {
			n.year, n.next, n.last, n.spare = year, n.spare.first, n.spare.last, nil
			break
		}
		if n.fetching {
			n.ready.Wait()
			continue
		}
		n.spare = nil
		first, last, err := n.st.TakeNumberBlock(ctx, year, n.block)
		if err != nil {
			return "", err
		}
		n.year, n.next, n.last = year, first, last
	}
	num := n.next
	n.next++
	if !n.fetching && n.spare == nil && n.last-n.next < n.block/2 {
		n.fetching = true
		go n.prefetch(context.WithoutCancel(ctx), year)
	}
	return fmt.Sprintf("S-%d-%06d", year, num), nil
}

func (n *numbers) prefetch(ctx context.Context, year int) {
	first, last, err := n.st.TakeNumberBlock(ctx, year, n.block)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fetching, n.fetchErr = false, err
	if err == nil {
		n.spare = &span{year: year, first: first, last: last}
	}
	n.ready.Broadcast()
}
