package mongostore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
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
type GobSerializer struct{}

// Serialize encodes values with gob.
func (GobSerializer) Serialize(values map[any]any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(values); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Deserialize decodes gob data into values.
func (GobSerializer) Deserialize(data []byte, values map[any]any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(&values)
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
