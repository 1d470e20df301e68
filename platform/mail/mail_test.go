package mail

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirWritesPrivateFilesAndLogsNoContent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mail")
	var log bytes.Buffer
	s, err := New("", dir, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "tok-3f9a1c"
	if err := s.Send(context.Background(), Message{To: "ann@example.com", Subject: "Reset your password", Body: "Open https://shop/reset?token=" + secret + "\n"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	raw, _ := os.ReadFile(files[0])
	if !strings.Contains(string(raw), "To: ann@example.com\r\n") || !strings.Contains(string(raw), secret) {
		t.Fatalf("message: %q", raw)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, files[0]: 0o600} {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	if !strings.Contains(log.String(), files[0]) || strings.Contains(log.String(), secret) {
		t.Fatalf("log line: %s", log.String())
	}
}

func TestRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	s := &Dir{Path: t.TempDir()}
	for _, m := range []Message{
		{To: "ann@example.com\r\nBcc: all@example.com", Subject: "x"},
		{To: "ann@example.com", Subject: "x\r\nBcc: all@example.com"},
		{To: "not an address", Subject: "x"},
	} {
		if err := s.Send(context.Background(), m); err == nil {
			t.Errorf("sent %+v", m)
		}
	}
}

func TestSMTPURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"smtp://user:pw@mail.example.com:587?from=shop@example.com", true},
		{"smtp://mail.example.com?from=shop@example.com", true},
		{"smtp://mail.example.com", false},
		{"http://mail.example.com?from=shop@example.com", false},
		{"mail.example.com", false},
	} {
		if _, err := NewSMTP(tc.url); (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.url, err)
		}
	}
}
