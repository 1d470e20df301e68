package benchflag

import "testing"

func TestParseRates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		closed  float64
		want    []float64
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "250, 500,,", closed: 1000, want: []float64{250, 500}},
		{in: "25%,50%", closed: 2000, want: []float64{500, 1000}},
		{in: "100,10%", closed: 300, want: []float64{100, 30}},
		{in: "0", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "0%", wantErr: true},
		{in: "1001%", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "NaN%", wantErr: true},
		{in: "Inf", wantErr: true},
	}
	for _, c := range cases {
		rs, err := ParseRates(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if len(rs) != len(c.want) {
			t.Errorf("%q: %d rates, want %d", c.in, len(rs), len(c.want))
			continue
		}
		for i, r := range rs {
			if got := r.Of(c.closed); got != c.want[i] {
				t.Errorf("%q [%d]: %g req/s, want %g", c.in, i, got, c.want[i])
			}
		}
	}
	rs, _ := ParseRates("50%,70")
	if !rs[0].Relative() || rs[1].Relative() || rs[0].String() != "50%" || rs[1].String() != "70" {
		t.Errorf("50%%,70: %+v", rs)
	}
}
