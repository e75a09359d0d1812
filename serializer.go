package mongostore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// A Serializer turns a session's Values into the bytes stored in the
// document's data field and back.
//
// Serialize must not keep a reference to values. Deserialize is given an
// empty, non-nil map to fill.
type Serializer interface {
	Serialize(values map[any]any) ([]byte, error)
	Deserialize(data []byte, values map[any]any) error
}

// GobSerializer stores values with encoding/gob. It is the default.
//
// Values of any type round-trip exactly, flashes and ints included, as long
// as gob knows the type: a struct or other named type kept in a session must
// be registered with gob.Register before the first Save, as with
// sessions.CookieStore. Saving an unregistered type fails with ErrEncode and
// writes nothing.
//
// The values are written as a list sorted by key, so that the same values
// encode to the same bytes and Save can see that nothing changed. Maps
// inside values are still encoded in Go's random map order; a session
// holding one may be written when it need not be, never the other way.
type GobSerializer struct{}

type gobEntry struct{ Key, Value any }

// Serialize encodes values with gob.
func (GobSerializer) Serialize(values map[any]any) ([]byte, error) {
	entries := make([]gobEntry, 0, len(values))
	for k, v := range values {
		entries = append(entries, gobEntry{k, v})
	}
	slices.SortFunc(entries, func(a, b gobEntry) int {
		return compareKeys(a.Key, b.Key)
	})

	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(entries); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Deserialize decodes gob data into values.
func (GobSerializer) Deserialize(data []byte, values map[any]any) error {
	var entries []gobEntry
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(
		&entries); err != nil {
		return err
	}
	for _, e := range entries {
		// Only a forged document holds such a key; a map would panic.
		if e.Key != nil && !reflect.ValueOf(e.Key).Comparable() {
			return fmt.Errorf("key of type %T is not comparable", e.Key)
		}
		values[e.Key] = e.Value
	}
	return nil
}

// compareKeys orders session keys, which are nearly always strings, by
// their text, and keys of other types by their type and printed value.
func compareKeys(a, b any) int {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.Compare(as, bs)
	}
	return strings.Compare(fmt.Sprintf("%T %v", a, a),
		fmt.Sprintf("%T %v", b, b))
}

// JSONSerializer stores values as JSON, which other languages and mongosh
// users can read.
//
// Keys must be strings; any other key fails with ErrEncode. JSON keeps
// fewer types than gob: numbers come back as float64, structs as
// map[string]any and flashes as []any.
type JSONSerializer struct{}

// Serialize encodes values as a JSON object.
func (JSONSerializer) Serialize(values map[any]any) ([]byte, error) {
	m := make(map[string]any, len(values))
	for k, v := range values {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("key %#v is a %T, "+
				"JSONSerializer takes string keys only", k, k)
		}
		m[key] = v
	}
	return json.Marshal(m)
}

// Deserialize decodes a JSON object into values.
func (JSONSerializer) Deserialize(data []byte, values map[any]any) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k, v := range m {
		values[k] = v
	}
	return nil
}
