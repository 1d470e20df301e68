package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestEveryMessageConsumed runs a small floor with the driver in process:
// every request answered, every message taken by every consumer, and a
// report with the CPU figures.
func TestEveryMessageConsumed(t *testing.T) {
	if !testenv.PostgresConfigured() {
		t.Skip("the floor is measured on PostgreSQL (FABRIKA_TEST_POSTGRES)")
	}
	c := config{dsn: testenv.DSNOn(t, sqldb.Postgres), rate: 20, seconds: 1, requests: 3, produced: 2, consumers: 2, drain: 30 * time.Second}
	inProcess := func(ctx context.Context, c config, url string) ([]byte, time.Duration, error) {
		c.drive = url
		var b bytes.Buffer
		err := drive(ctx, c, &b)
		return b.Bytes(), 0, err
	}
	var out bytes.Buffer
	if err := run(t.Context(), c, &out, inProcess); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"requests 60,", fmt.Sprintf("messages consumed %d\n", 20*2*2), "CPU-ms per order: this process"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
