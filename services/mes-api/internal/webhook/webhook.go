// Package webhook holds what Standard Webhooks asks of a sender: per-endpoint
// secrets ("whsec_<base64>"), the signature over "id.timestamp.body", the
// retry schedule, and the checks that keep a client's URL from pointing the
// service at its own network (SSRF).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/backoff"
)

// Headers of a delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

const secretPrefix = "whsec_"

// NewSecret returns a fresh endpoint secret of 32 random bytes.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

func secretKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook secret is not whsec_<base64>")
	}
	return k, nil
}

// Sign returns the webhook-signature header value: "v1," followed by the
// base64 HMAC-SHA256 of "id.timestamp.body" under the secret's bytes.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	k, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(k, msgID, ts.Unix(), body)), nil
}

func mac(key []byte, msgID string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// ErrBadSignature is returned by Verify for a delivery that does not match.
var ErrBadSignature = errors.New("webhook signature does not match")

// Verify checks a delivery as a receiver would: one of the space-separated
// signatures must match and the timestamp must be within tolerance of now.
func Verify(secret, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	k, err := secretKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp %q", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside tolerance", ErrBadSignature)
	}
	want := mac(k, msgID, ts, body)
	for _, s := range strings.Fields(signatures) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// Backoff is the wait before attempt n+1 after n failed attempts: base x 2^(n-1),
// at most max, with up to 10% jitter taken from jitter in [0,1).
func Backoff(n int, base, max time.Duration, jitter float64) time.Duration {
	return time.Duration(float64(backoff.Exponential(n, base, max)) * (1 + jitter/10))
}
