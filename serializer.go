package mongostore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
// Values come back with their Go types, flashes, ints and structs
// included, as far as gob keeps them (it stores what a pointer points to,
// and a value read back is no longer a pointer). A struct or other named
// type kept in a session must be registered with gob.Register before the
// first Save, as with sessions.CookieStore; saving an unregistered type
// fails with ErrEncode and writes nothing.
//
// The values are written as a list sorted by key, so that the same values
// encode to the same bytes and Save can see that nothing changed. Maps
// inside values are still encoded in Go's random map order; a session
// holding one may be written when it need not be, never the other way.
type GobSerializer struct{}

// Serialize encodes values with gob.
func (GobSerializer) Serialize(values map[any]any) ([]byte, error) {
	keys := make([]any, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)

	// Keys and values alternate in one flat list, which gob decodes
	// faster than a map or a list of pairs.
	flat := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		flat = append(flat, k, values[k])
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(flat); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Deserialize decodes gob data into values.
func (GobSerializer) Deserialize(data []byte, values map[any]any) error {
	var flat []any
	if err := gobDecoders.decode(data, &flat); err != nil {
		return err
	}
	if len(flat)%2 != 0 {
		return fmt.Errorf("%d items, not key and value pairs", len(flat))
	}
	for i := 0; i < len(flat); i += 2 {
		k := flat[i]
		// Only a forged document holds such a key; a map would panic.
		if k != nil && !reflect.ValueOf(k).Comparable() {
			return fmt.Errorf("key of type %T is not comparable", k)
		}
		values[k] = flat[i+1]
	}
	return nil
}

// decoderCache keeps gob decoders that have read a given run of type
// definitions. A new gob decoder must build its machinery for every type
// it meets, which makes up most of the cost of a load; a decoder that has
// already read the same definitions decodes the value alone about five
// times faster.
type decoderCache struct {
	pools sync.Map // type definitions (string) to *sync.Pool of *gobReader
	count atomic.Int32
}

// maxDecoderPools bounds the cache: sessions holding the same types share
// one pool, and an app has a handful of such shapes.
const maxDecoderPools = 256

var gobDecoders decoderCache

// gobReader is a gob decoder with the bytes it reads, which are swapped
// for each message.
type gobReader struct {
	src []byte
	dec *gob.Decoder
}

func (r *gobReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.src)
	r.src = r.src[n:]
	return n, nil
}

func (r *gobReader) ReadByte() (byte, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	b := r.src[0]
	r.src = r.src[1:]
	return b, nil
}

func (c *decoderCache) decode(data []byte, flat *[]any) error {
	split := lastMessage(data)
	if split < 0 {
		return gob.NewDecoder(bytes.NewReader(data)).Decode(flat)
	}
	pool := c.pool(string(data[:split]))
	if pool == nil {
		return gob.NewDecoder(bytes.NewReader(data)).Decode(flat)
	}

	if r, ok := pool.Get().(*gobReader); ok {
		r.src = data[split:]
		// A decoder that failed may be left mid-message: drop it, and
		// let a new one give the verdict on the data.
		if err := r.dec.Decode(flat); err == nil && len(r.src) == 0 {
			pool.Put(r)
			return nil
		}
		*flat = nil
	}

	r := &gobReader{src: data}
	r.dec = gob.NewDecoder(r)
	if err := r.dec.Decode(flat); err != nil {
		return err
	}
	if len(r.src) == 0 {
		pool.Put(r)
	}
	return nil
}

func (c *decoderCache) pool(types string) *sync.Pool {
	if p, ok := c.pools.Load(types); ok {
		return p.(*sync.Pool)
	}
	if c.count.Load() >= maxDecoderPools {
		return nil
	}
	p, loaded := c.pools.LoadOrStore(types, &sync.Pool{})
	if !loaded {
		c.count.Add(1)
	}
	return p.(*sync.Pool)
}

// lastMessage returns where the last message of a gob stream starts: what
// comes before it are the type definitions, the last one is the value. It
// returns -1 if data is not a whole number of messages.
func lastMessage(data []byte) int {
	last := -1
	for i := 0; i < len(data); {
		n, width := gobUint(data[i:])
		if width == 0 || n > uint64(len(data)-i-width) {
			return -1
		}
		last = i
		i += width + int(n)
	}
	return last
}

// gobUint reads a gob unsigned integer: one byte below 128, else a byte
// holding minus the count of big-endian bytes that follow. It returns a
// width of 0 if b is too short or the count is out of range.
func gobUint(b []byte) (n uint64, width int) {
	if len(b) == 0 {
		return 0, 0
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	count := 256 - int(b[0])
	if count > 8 || len(b) < 1+count {
		return 0, 0
	}
	for _, x := range b[1 : 1+count] {
		n = n<<8 | uint64(x)
	}
	return n, 1 + count
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

// stringKeys copies values into a map keyed by strings, for serializers
// that take no other keys.
func stringKeys(values map[any]any, who string) (map[string]any, error) {
	m := make(map[string]any, len(values))
	for k, v := range values {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("key %#v is a %T, %s takes string "+
				"keys only", k, k, who)
		}
		m[key] = v
	}
	return m, nil
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
	m, err := stringKeys(values, "JSONSerializer")
	if err != nil {
		return nil, err
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
