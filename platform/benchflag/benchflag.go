// Package benchflag parses the flags the benchmark commands share: a list
// of fixed request rates, each absolute ("500") or a share of the
// closed-loop throughput measured just before ("50%").
package benchflag

import (
	"fmt"
	"strconv"
	"strings"
)

// Rate is a fixed request rate: PerSec requests per second, or Share of a
// measured closed-loop throughput.
type Rate struct {
	PerSec float64
	Share  float64 // 0.5 for "50%"
	text   string
}

// Of returns the rate in requests per second, given the closed-loop
// throughput a share is taken of.
func (r Rate) Of(closed float64) float64 {
	if r.Share > 0 {
		return r.Share * closed
	}
	return r.PerSec
}

// Relative tells whether the rate is a share of a closed-loop throughput.
func (r Rate) Relative() bool { return r.Share > 0 }

// String is the rate as it was given.
func (r Rate) String() string { return r.text }

// ParseRates parses a comma-separated list such as "250,500" or
// "25%,50%,75%"; empty items are skipped, so "" is no rate. A share is
// above 0 and at most 1000%, an absolute rate above 0.
func ParseRates(s string) ([]Rate, error) {
	var out []Rate
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, ok := strings.CutSuffix(f, "%"); ok {
			v, err := strconv.ParseFloat(p, 64)
			if err != nil || !(v > 0 && v <= 1000) {
				return nil, fmt.Errorf("bad share %q: want a percentage above 0 and at most 1000", f)
			}
			out = append(out, Rate{Share: v / 100, text: f})
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0) || v > 1e9 {
			return nil, fmt.Errorf("bad rate %q: want requests per second above 0, or a percentage", f)
		}
		out = append(out, Rate{PerSec: v, text: f})
	}
	return out, nil
}
