package mongostore

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// DocumentSerializer stores values as a BSON document, so that they can be
// read and queried in mongosh when the store keeps them as an embedded
// document, and come back with their Go types.
//
// The document holds the values under v and, under t, a tag for each
// value whose Go type the BSON type alone does not say:
//
//	{
//	  v: {
//	    user:   "ada",
//	    visits: Long("12"),                         // int
//	    id:     Long("7"),                          // int64
//	    seen:   ISODate("2025-05-01T09:30:00.123Z"),
//	    roles:  ["admin", "dev"],
//	    _flash: ["saved"],
//	    prefs:  { theme: "dark", size: 1.5 },       // float32
//	  },
//	  t: { id: "int64", prefs: { size: "float32" },
//	       roles: "[]string", seen: "time:456789" },
//	}
//
// The tags mirror the values: the tag of data.v.prefs.size is at
// data.t.prefs.size, and that of data.v.a.2, the third element of an
// array a, at data.t.a.2.
// t is left out when no value needs a tag. Queries see only plain BSON:
// db.sessions.find({"data.v.user": "ada"}) finds Ada's sessions,
// {"data.v._flash": "saved"} matches an element of the flashes, and
// numbers of any width compare as numbers.
//
// These Go types are accepted, at the top level and nested, and come back
// as the same type (the BSON type stored, then the tag if any):
//
//	string, bool, nil        string, bool, null
//	int                      64-bit integer
//	int64                    64-bit integer, "int64"
//	int32                    32-bit integer
//	int8, int16              32-bit integer, "int8", "int16"
//	uint8, uint16            32-bit integer, "uint8", "uint16"
//	uint32                   64-bit integer, "uint32"
//	float64                  double
//	float32                  double, "float32"
//	time.Time                date, "time:N" if N ns past the millisecond
//	[]byte                   binary (subtype 0)
//	[]string                 array of strings, "[]string"
//	[]any                    array, each element by these rules
//	map[string]any           embedded document, by these rules
//
// A nil []byte, []string, []any or map[string]any is stored as null
// tagged with its type, so that it does not come back empty but non-nil.
//
// A BSON date holds milliseconds, and the tag holds the nanoseconds
// beyond them, so a time.Time comes back as the same instant to the
// nanosecond, but in UTC and without its monotonic clock reading: compare
// times with Equal. Times must lie within the dates BSON can hold, about
// 292 million years either side of 1970.
//
// Every other type fails, naming the key and the type: named types such
// as a type Role string, structs, pointers, map[any]any and other maps,
// slices of other types, and uint, uint64 and uintptr, for which BSON has
// no integer (store an int64 or a string instead). Keys, at the top level
// and in nested maps, must be strings that MongoDB stores as field names
// without surprises: not empty, not starting with '$', and without '.' or
// a NUL byte. Nesting is limited to 100 levels.
//
// The same values always encode to the same bytes, keys sorted at every
// level, so Save can see that nothing changed. Deserialize takes only
// what Serialize can write: other BSON types, unknown tags, tags without
// a value and values a tag's type cannot hold are errors.
type DocumentSerializer struct{}

// makesDocument tells the store to keep the output as an embedded
// document rather than binary data.
func (DocumentSerializer) makesDocument() {}

// maxNesting bounds how deep arrays and documents may nest, so that a
// forged document cannot make Deserialize recurse without end, nor a
// slice that holds itself Serialize.
const maxNesting = 100

// The tags of types that BSON does not tell apart by itself.
const (
	tagInt64   = "int64"
	tagInt16   = "int16"
	tagInt8    = "int8"
	tagUint32  = "uint32"
	tagUint16  = "uint16"
	tagUint8   = "uint8"
	tagFloat32 = "float32"
	tagStrings = "[]string"
	tagAny     = "[]any"
	tagMap     = "map[string]any"
	tagBytes   = "[]byte"

	// tagTime is followed by the nanoseconds past the millisecond.
	tagTime = "time:"
)

// tagReaders reads a value into the Go type its tag names, if it is of
// the BSON type the tag goes with and fits the Go type. The time tag
// carries a number and is read apart.
var tagReaders = map[string]reader{
	tagInt64:   readInt64,
	tagInt16:   readInt32As[int16],
	tagInt8:    readInt32As[int8],
	tagUint16:  readInt32As[uint16],
	tagUint8:   readInt32As[uint8],
	tagUint32:  readUint32,
	tagFloat32: readFloat32,
	tagStrings: readStrings,
	tagAny:     readNil[[]any],
	tagMap:     readNil[map[string]any],
	tagBytes:   readNil[[]byte],
}

// Serialize encodes values as a BSON document {v: values, t: tags}.
func (DocumentSerializer) Serialize(values map[any]any) ([]byte, error) {
	m, err := stringKeys(values, "DocumentSerializer")
	if err != nil {
		return nil, err
	}

	v, tags, err := appendDocument(nil, m, "", 0)
	if err != nil {
		return nil, err
	}

	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = bsoncore.AppendDocumentElement(doc, "v", v)
	if tags.children != nil {
		doc = bsoncore.AppendDocumentElement(doc, "t", tags.children)
	}
	return bsoncore.AppendDocumentEnd(doc, idx)
}

// A tag is what t holds for one value: the name of its Go type, or for
// an array or document the tags of its elements, or nothing at all.
type tag struct {
	name     string
	children bsoncore.Document
}

func (t tag) appendTo(dst []byte, key string) []byte {
	switch {
	case t.name != "":
		return bsoncore.AppendStringElement(dst, key, t.name)
	case t.children != nil:
		return bsoncore.AppendDocumentElement(dst, key, t.children)
	}
	return dst
}

// appendValue appends x to dst as an element named key, and returns the
// tag that stands in t at path for it.
func appendValue(dst []byte, key string, x any, path string,
	depth int) ([]byte, tag, error) {
	switch x := x.(type) {
	case nil:
		return bsoncore.AppendNullElement(dst, key), tag{}, nil
	case string:
		return bsoncore.AppendStringElement(dst, key, x), tag{}, nil
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, x), tag{}, nil
	case int:
		return bsoncore.AppendInt64Element(dst, key, int64(x)), tag{}, nil
	case int64:
		return bsoncore.AppendInt64Element(dst, key, x),
			tag{name: tagInt64}, nil
	case int32:
		return bsoncore.AppendInt32Element(dst, key, x), tag{}, nil
	case int16:
		return appendInt32(dst, key, int32(x), tagInt16)
	case int8:
		return appendInt32(dst, key, int32(x), tagInt8)
	case uint16:
		return appendInt32(dst, key, int32(x), tagUint16)
	case uint8:
		return appendInt32(dst, key, int32(x), tagUint8)
	case uint32:
		return bsoncore.AppendInt64Element(dst, key, int64(x)),
			tag{name: tagUint32}, nil
	case float64:
		return bsoncore.AppendDoubleElement(dst, key, x), tag{}, nil
	case float32:
		return bsoncore.AppendDoubleElement(dst, key, float64(x)),
			tag{name: tagFloat32}, nil
	case time.Time:
		return appendTime(dst, key, x, path)
	case []byte:
		if x == nil {
			return appendNil(dst, key, tagBytes)
		}
		return bsoncore.AppendBinaryElement(dst, key, 0, x), tag{}, nil
	case []string:
		if x == nil {
			return appendNil(dst, key, tagStrings)
		}
		return appendStrings(dst, key, x)
	case []any:
		if x == nil {
			return appendNil(dst, key, tagAny)
		}
		return appendArray(bsoncore.AppendHeader(dst, bsoncore.TypeArray,
			key), x, path, depth+1)
	case map[string]any:
		if x == nil {
			return appendNil(dst, key, tagMap)
		}
		return appendDocument(bsoncore.AppendHeader(dst,
			bsoncore.TypeEmbeddedDocument, key), x, path, depth+1)
	case uint, uint64, uintptr:
		return dst, tag{}, fmt.Errorf("value at %q is a %T, which BSON "+
			"has no integer for; store an int64 or a string", path, x)
	}
	return dst, tag{}, fmt.Errorf("value at %q is a %T, "+
		"which DocumentSerializer does not store", path, x)
}

func appendInt32(dst []byte, key string, i int32,
	name string) ([]byte, tag, error) {
	return bsoncore.AppendInt32Element(dst, key, i), tag{name: name}, nil
}

func appendNil(dst []byte, key, name string) ([]byte, tag, error) {
	return bsoncore.AppendNullElement(dst, key), tag{name: name}, nil
}

// The first and last instants whose milliseconds fit a BSON date.
var (
	firstDate = time.UnixMilli(math.MinInt64)
	afterDate = time.UnixMilli(math.MaxInt64).Add(time.Millisecond)
)

func appendTime(dst []byte, key string, t time.Time,
	path string) ([]byte, tag, error) {
	if t.Before(firstDate) || !t.Before(afterDate) {
		return dst, tag{}, fmt.Errorf("time at %q is %v, "+
			"beyond the dates BSON can hold", path, t)
	}

	// UnixMilli rounds down, so the nanoseconds left are never negative.
	dst = bsoncore.AppendDateTimeElement(dst, key, t.UnixMilli())
	if ns := t.Nanosecond() % int(time.Millisecond); ns != 0 {
		return dst, tag{name: tagTime + strconv.Itoa(ns)}, nil
	}
	return dst, tag{}, nil
}

func appendStrings(dst []byte, key string,
	s []string) ([]byte, tag, error) {
	idx, dst := bsoncore.AppendArrayElementStart(dst, key)
	for i, x := range s {
		dst = bsoncore.AppendStringElement(dst, strconv.Itoa(i), x)
	}
	dst, err := bsoncore.AppendArrayEnd(dst, idx)
	return dst, tag{name: tagStrings}, err
}

// appendArray appends a as a BSON array, the type and key of the element
// that holds it already written.
func appendArray(dst []byte, a []any, path string,
	depth int) ([]byte, tag, error) {
	if depth > maxNesting {
		return dst, tag{}, tooDeep(path)
	}

	idx, dst := bsoncore.AppendArrayStart(dst)
	var tags []byte
	for i, x := range a {
		key := strconv.Itoa(i)
		var t tag
		var err error
		dst, t, err = appendValue(dst, key, x, join(path, key), depth)
		if err != nil {
			return dst, tag{}, err
		}
		tags = t.appendTo(tags, key)
	}
	dst, err := bsoncore.AppendArrayEnd(dst, idx)
	return dst, childTags(tags), err
}

// appendDocument appends m as a BSON document, its keys sorted so that
// the same values make the same bytes.
func appendDocument(dst []byte, m map[string]any, path string,
	depth int) ([]byte, tag, error) {
	if depth > maxNesting {
		return dst, tag{}, tooDeep(path)
	}

	idx, dst := bsoncore.AppendDocumentStart(dst)
	var tags []byte
	for _, key := range slices.Sorted(maps.Keys(m)) {
		if err := checkKey(path, key); err != nil {
			return dst, tag{}, err
		}
		var t tag
		var err error
		dst, t, err = appendValue(dst, key, m[key], join(path, key), depth)
		if err != nil {
			return dst, tag{}, err
		}
		tags = t.appendTo(tags, key)
	}
	dst, err := bsoncore.AppendDocumentEnd(dst, idx)
	return dst, childTags(tags), err
}

// childTags wraps the tag elements of an array or document's children in
// a document, or returns no tag if none of them has one.
func childTags(elems []byte) tag {
	if len(elems) == 0 {
		return tag{}
	}
	return tag{children: bsoncore.BuildDocument(nil, elems)}
}

// checkKey refuses keys that MongoDB would take for an operator or a
// path in queries and updates, or cannot store at all.
func checkKey(path, key string) error {
	var why string
	switch {
	case key == "":
		why = "is empty"
	case strings.HasPrefix(key, "$"):
		why = "starts with '$', which MongoDB reads as an operator"
	case strings.Contains(key, "."):
		why = "holds a '.', which MongoDB reads as a path"
	case strings.Contains(key, "\x00"):
		why = "holds a NUL byte, which ends a BSON field name"
	default:
		return nil
	}
	if path == "" {
		return fmt.Errorf("key %q %s", key, why)
	}
	return fmt.Errorf("key %q in %q %s", key, path, why)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// tooDeep names only the top-level key, as the whole path would run to
// a hundred steps.
func tooDeep(path string) error {
	top, _, _ := strings.Cut(path, ".")
	return fmt.Errorf("value under %q is nested more than %d deep",
		top, maxNesting)
}

// Deserialize decodes a document written by Serialize into values.
func (DocumentSerializer) Deserialize(data []byte,
	values map[any]any) error {
	doc, rest, ok := bsoncore.ReadDocument(data)
	if !ok || len(rest) != 0 {
		return errors.New("data is not one BSON document")
	}
	v, t, err := splitDocument(doc)
	if err != nil {
		return err
	}

	m, err := readDocument(v, t, "", 0)
	if err != nil {
		return err
	}
	for k, x := range m {
		values[k] = x
	}
	return nil
}

// splitDocument returns the values and the tags of a document, and
// refuses anything else in it.
func splitDocument(doc bsoncore.Document) (v, t bsoncore.Document,
	err error) {
	elems, err := elements(doc)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range elems {
		value := e.Value()
		d, ok := value.DocumentOK()
		switch key := e.Key(); {
		case key != "v" && key != "t":
			return nil, nil, fmt.Errorf("unexpected field %q", key)
		case !ok:
			return nil, nil, fmt.Errorf("%s is a BSON %s, not a document",
				key, value.Type)
		case key == "v" && v == nil:
			v = d
		case key == "t" && t == nil:
			t = d
		default:
			return nil, nil, fmt.Errorf("%s is given twice", key)
		}
	}
	if v == nil {
		return nil, nil, errors.New("no values (v) in the document")
	}
	return v, t, nil
}

// elements checks that doc is well formed, without looking into the
// documents and arrays it holds, and returns its elements.
func elements(doc bsoncore.Document) ([]bsoncore.Element, error) {
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return doc.Elements()
}

// readTags returns the tags of an array or document's children by key.
func readTags(t bsoncore.Document, path string) (map[string]tag, error) {
	if t == nil {
		return nil, nil
	}
	elems, err := elements(t)
	if err != nil {
		return nil, fmt.Errorf("tags of %q: %w", path, err)
	}

	tags := make(map[string]tag, len(elems))
	for _, e := range elems {
		key, value := e.Key(), e.Value()
		if _, dup := tags[key]; dup {
			return nil, fmt.Errorf("two tags for %q", join(path, key))
		}
		name, isName := value.StringValueOK()
		children, isDoc := value.DocumentOK()
		switch {
		case isName && name == "":
			return nil, fmt.Errorf("empty tag for %q", join(path, key))
		case isName:
			tags[key] = tag{name: name}
		case isDoc:
			tags[key] = tag{children: children}
		default:
			return nil, fmt.Errorf("tag of %q is a BSON %s, not a type "+
				"name or a document", join(path, key), value.Type)
		}
	}
	return tags, nil
}

// unusedTag reports a tag left over once all children are read, which
// names a value that is not there.
func unusedTag(tags map[string]tag, path string) error {
	if len(tags) == 0 {
		return nil
	}
	key := slices.Min(slices.Collect(maps.Keys(tags)))
	return fmt.Errorf("tag for %q, which holds no value", join(path, key))
}

func readDocument(doc, t bsoncore.Document, path string,
	depth int) (map[string]any, error) {
	if depth > maxNesting {
		return nil, tooDeep(path)
	}
	elems, err := elements(doc)
	if err != nil {
		return nil, fmt.Errorf("value at %q: %w", path, err)
	}
	tags, err := readTags(t, path)
	if err != nil {
		return nil, err
	}

	m := make(map[string]any, len(elems))
	for _, e := range elems {
		key := e.Key()
		if err := checkKey(path, key); err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("%q is given twice", join(path, key))
		}
		x, err := readValue(e.Value(), tags[key], join(path, key), depth)
		if err != nil {
			return nil, err
		}
		m[key] = x
		delete(tags, key)
	}
	return m, unusedTag(tags, path)
}

func readArray(arr bsoncore.Array, t bsoncore.Document, path string,
	depth int) ([]any, error) {
	if depth > maxNesting {
		return nil, tooDeep(path)
	}
	elems, err := elements(bsoncore.Document(arr))
	if err != nil {
		return nil, fmt.Errorf("value at %q: %w", path, err)
	}
	tags, err := readTags(t, path)
	if err != nil {
		return nil, err
	}

	a := make([]any, 0, len(elems))
	for i, e := range elems {
		key := strconv.Itoa(i)
		if e.Key() != key {
			return nil, fmt.Errorf("element %d of %q has key %q",
				i, path, e.Key())
		}
		x, err := readValue(e.Value(), tags[key], join(path, key), depth)
		if err != nil {
			return nil, err
		}
		a = append(a, x)
		delete(tags, key)
	}
	return a, unusedTag(tags, path)
}

// readValue turns v back into the Go value it was written from, given
// the tag that stands for it in t.
func readValue(v bsoncore.Value, t tag, path string,
	depth int) (any, error) {
	if t.name != "" {
		return readTagged(v, t.name, path)
	}

	if doc, ok := v.DocumentOK(); ok {
		return readDocument(doc, t.children, path, depth+1)
	}
	if arr, ok := v.ArrayOK(); ok {
		return readArray(arr, t.children, path, depth+1)
	}
	if t.children != nil {
		return nil, fmt.Errorf("tags for elements of %q, a BSON %s",
			path, v.Type)
	}

	read, known := plainReaders[v.Type]
	if !known {
		return nil, fmt.Errorf("value at %q is a BSON %s, "+
			"which DocumentSerializer does not read", path, v.Type)
	}
	x, ok := read(v)
	if !ok {
		return nil, fmt.Errorf("value at %q, a BSON %s, is not one "+
			"DocumentSerializer writes", path, v.Type)
	}
	return x, nil
}

// A reader turns a BSON value into a Go value; ok is false if the value
// is malformed, or not one Serialize writes.
type reader func(v bsoncore.Value) (x any, ok bool)

// plainReaders reads the BSON types that need no tag into the Go type
// they stand for. The driver's methods that end in OK check the length
// and type of the bytes, where the others would panic.
var plainReaders = map[bsoncore.Type]reader{
	bsoncore.TypeString:   readAs(bsoncore.Value.StringValueOK),
	bsoncore.TypeBoolean:  readBool,
	bsoncore.TypeNull:     readNil[any],
	bsoncore.TypeInt64:    readInt,
	bsoncore.TypeInt32:    readAs(bsoncore.Value.Int32OK),
	bsoncore.TypeDouble:   readAs(bsoncore.Value.DoubleOK),
	bsoncore.TypeDateTime: readDate,
	bsoncore.TypeBinary:   readBinary,
}

func readAs[T any](read func(bsoncore.Value) (T, bool)) reader {
	return func(v bsoncore.Value) (any, bool) {
		x, ok := read(v)
		return x, ok
	}
}

// readBool takes only the two bytes BSON allows for a boolean, where the
// driver reads any other as false.
func readBool(v bsoncore.Value) (any, bool) {
	b, ok := v.BooleanOK()
	return b, ok && len(v.Data) == 1 && v.Data[0] <= 1
}

func readInt(v bsoncore.Value) (any, bool) {
	i, ok := v.Int64OK()
	return int(i), ok && int64(int(i)) == i
}

func readDate(v bsoncore.Value) (any, bool) {
	ms, ok := v.DateTimeOK()
	return time.UnixMilli(ms).UTC(), ok
}

func readBinary(v bsoncore.Value) (any, bool) {
	subtype, b, ok := v.BinaryOK()
	if !ok || subtype != 0 {
		return nil, false
	}
	return append(make([]byte, 0, len(b)), b...), true
}

func readTagged(v bsoncore.Value, name, path string) (any, error) {
	if ns, ok := strings.CutPrefix(name, tagTime); ok {
		return readTime(v, ns, path)
	}
	read, known := tagReaders[name]
	if !known {
		return nil, fmt.Errorf("tag %q of %q names no type", name, path)
	}
	x, ok := read(v)
	if !ok {
		return nil, fmt.Errorf("tag %q of %q does not fit its value, "+
			"a BSON %s", name, path, v.Type)
	}
	return x, nil
}

func readTime(v bsoncore.Value, ns, path string) (time.Time, error) {
	ms, ok := v.DateTimeOK()
	if !ok {
		return time.Time{}, fmt.Errorf("tag %q of %q does not fit its "+
			"value, a BSON %s", tagTime+ns, path, v.Type)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 0 || n >= int(time.Millisecond) {
		return time.Time{}, fmt.Errorf("tag %q of %q is not a count of "+
			"nanoseconds below a millisecond", tagTime+ns, path)
	}
	return time.UnixMilli(ms).Add(time.Duration(n)).UTC(), nil
}

func readInt64(v bsoncore.Value) (any, bool) {
	return v.Int64OK()
}

// readInt32As reads a 32-bit integer into a narrower type, if it fits.
func readInt32As[T int8 | int16 | uint8 | uint16](v bsoncore.Value) (any,
	bool) {
	i, ok := v.Int32OK()
	if !ok || int32(T(i)) != i {
		return nil, false
	}
	return T(i), true
}

func readUint32(v bsoncore.Value) (any, bool) {
	i, ok := v.Int64OK()
	if !ok || i < 0 || i > math.MaxUint32 {
		return nil, false
	}
	return uint32(i), true
}

// readFloat32 takes only doubles that a float32 holds exactly, as
// Serialize writes them.
func readFloat32(v bsoncore.Value) (any, bool) {
	f, ok := v.DoubleOK()
	if !ok || (float64(float32(f)) != f && !math.IsNaN(f)) {
		return nil, false
	}
	return float32(f), true
}

func readStrings(v bsoncore.Value) (any, bool) {
	if v.Type == bsoncore.TypeNull {
		return []string(nil), true
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, false
	}
	elems, err := elements(bsoncore.Document(arr))
	if err != nil {
		return nil, false
	}

	s := make([]string, 0, len(elems))
	for i, e := range elems {
		x, ok := e.Value().StringValueOK()
		if !ok || e.Key() != strconv.Itoa(i) {
			return nil, false
		}
		s = append(s, x)
	}
	return s, true
}

// readNil reads a null as the nil of type T: untagged, a nil any; tagged,
// a nil slice or map.
func readNil[T any](v bsoncore.Value) (any, bool) {
	var zero T
	return zero, v.Type == bsoncore.TypeNull
}
