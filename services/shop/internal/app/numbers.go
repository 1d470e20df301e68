package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// numbers hands out human-friendly order numbers, S-<year>-<6 digits>, from
// blocks reserved in the database: unique across instances and restarts
// without making every order wait for one counter row. A restart or a
// rolled-back order leaves a gap, which nobody minds.
type numbers struct {
	st    *store.Store
	block int64

	mu         sync.Mutex
	year       int
	next, last int64
}

func (n *numbers) take(ctx context.Context, year int) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if year != n.year || n.next == 0 || n.next > n.last {
		first, last, err := n.st.TakeNumberBlock(ctx, year, n.block)
		if err != nil {
			return "", err
		}
		n.year, n.next, n.last = year, first, last
	}
	num := n.next
	n.next++
	return fmt.Sprintf("S-%d-%06d", year, num), nil
}
