// Package mail sends Fabrika's few e-mails (account confirmation, password
// reset): through an SMTP server in production (FABRIKA_SMTP_URL), or, in
// development, as files in a folder, one RFC 5322 message each, so that a
// developer can open the link without a mail server.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is a plain-text e-mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages; SMTP and Dir implement it.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// New returns the sender a configuration names: SMTP when smtpURL is set,
// else a Dir in dir.
func New(smtpURL, dir string, log *slog.Logger) (Sender, error) {
	if smtpURL != "" {
		return NewSMTP(smtpURL)
	}
	if dir == "" {
		return nil, errors.New("mail: set an SMTP URL or a folder for the mail files")
	}
	return &Dir{Path: dir, Log: log}, nil
}

// format renders m with its headers.
func format(from string, m Message, now time.Time) ([]byte, error) {
	if _, err := mail.ParseAddress(m.To); err != nil {
		return nil, fmt.Errorf("mail: recipient %q: %w", m.To, err)
	}
	if strings.ContainsAny(m.To+m.Subject+from, "\r\n") {
		return nil, errors.New("mail: a header holds a line break")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		from, m.To, mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z))
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes(), nil
}

// Dir writes each message as a file (mode 0600, folder 0700): development
// only. The log line names the file, never its content (it holds links
// with tokens).
type Dir struct {
	Path string
	Log  *slog.Logger
}

// Send writes m to a new file.
func (d *Dir) Send(ctx context.Context, m Message) error {
	now := time.Now().UTC()
	raw, err := format("Fabrika <no-reply@localhost>", m, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("mail folder: %w", err)
	}
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	name := filepath.Join(d.Path, now.Format("20060102T150405.000000000Z")+"-"+hex.EncodeToString(rnd)+".eml")
	if err := os.WriteFile(name, raw, 0o600); err != nil {
		return fmt.Errorf("write mail: %w", err)
	}
	if d.Log != nil {
		d.Log.InfoContext(ctx, "mail written to a file (no SMTP server configured)", "file", name, "subject", m.Subject)
	}
	return nil
}

// SMTP sends through a server named by a URL:
// smtp://user:password@host:587?from=shop@example.com (STARTTLS when the
// server offers it, which net/smtp requires before it sends a password to
// anything but localhost).
type SMTP struct {
	addr, host, from string
	auth             smtp.Auth
}

// NewSMTP parses the server's URL.
func NewSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, errors.New("mail: the SMTP URL must look like smtp://user:password@host:587?from=shop@example.com")
	}
	from := u.Query().Get("from")
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: the SMTP URL needs a from= address: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = "587"
	}
	s := &SMTP{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), from: from}
	if u.User != nil {
		pw, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, u.Hostname())
	}
	return s, nil
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	raw, err := format(s.from, m, time.Now().UTC())
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(s.addr, s.auth, s.from, []string{m.To}, raw) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("send mail via %s: %w", s.host, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
