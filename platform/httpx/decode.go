package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBody is the default limit of a JSON request body.
const MaxBody = 1 << 20

// DecodeJSON reads a JSON body of at most limit bytes into v: the content
// type must be application/json, unknown fields and trailing data are
// refused. Every failure is a *Problem (415, 413 or 400).
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = MaxBody
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return NewProblem(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err, limit)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return NewProblem(http.StatusBadRequest, "the body must hold a single JSON value")
	}
	return nil
}

func decodeProblem(err error, limit int64) *Problem {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return NewProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", limit))
	case errors.As(err, &syn):
		return NewProblem(http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		p := NewProblem(http.StatusBadRequest, fmt.Sprintf("field %q must be %s", typ.Field, typ.Type))
		if typ.Field != "" {
			p.Errors = map[string]string{typ.Field: "must be " + typ.Type.String()}
		}
		return p
	case errors.Is(err, io.EOF):
		return NewProblem(http.StatusBadRequest, "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return NewProblem(http.StatusBadRequest, "malformed JSON: unexpected end")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Problem{Title: "Bad Request", Status: http.StatusBadRequest, Detail: "unknown field " + f, Errors: map[string]string{f: "unknown field"}}
	default:
		return NewProblem(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
}
