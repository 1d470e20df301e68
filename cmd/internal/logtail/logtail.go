// Package logtail reads the end of a process's log file, for the message of
// a command or test that started the process and saw it fail.
package logtail

import "os"

// Tail returns the last n bytes of the file at path, or the error that
// stopped it reading them (as text: it goes into a failure message).
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return err.Error()
	}
	return string(b)
}
