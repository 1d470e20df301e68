package contracts

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/platform/text"
)

// cleanText refuses a payload any of whose strings (fields, map keys and
// values, list items, at any depth) holds what poisons a consumer: NUL and
// other control characters but tab and newlines, bidi controls (see
// platform/text). Every Validate starts with it, so a consumer's
// inbox.JSON dead-letters such a message at once, with the field named,
// instead of failing on it forever (PostgreSQL refuses NUL in TEXT).
func cleanText(v any) error {
	return walkText(reflect.ValueOf(v), "")
}

func walkText(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.String:
		if err := text.Clean(v.String()); err != nil {
			return invalid("%s %v", path, err)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Tag.Get("json")
			name, _, _ = strings.Cut(name, ",")
			if name == "" {
				name = f.Name
			}
			if err := walkText(v.Field(i), join(path, name)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte is not text
		}
		for i := range v.Len() {
			if err := walkText(v.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if it.Key().Kind() == reflect.String && text.Clean(it.Key().String()) != nil {
				return invalid("%s has a key that %v", path, text.Clean(it.Key().String()))
			}
			if err := walkText(it.Value(), fmt.Sprintf("%s.%s", path, safeKey(it.Key()))); err != nil {
				return err
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return walkText(v.Elem(), path)
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func safeKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return k.String() // checked clean before
	}
	return fmt.Sprint(k.Interface())
}
