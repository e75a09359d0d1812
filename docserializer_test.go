package mongostore

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// docTypes holds a value of each type DocumentSerializer accepts, with
// the edges of each type where it has them.
var docTypes = []struct {
	name  string
	value any
}{
	{"string", "ada"},
	{"empty string", ""},
	{"non-ASCII string", "Ada Lovelace, née Byron ✓"},
	{"true", true},
	{"false", false},
	{"nil", nil},
	{"int", 42},
	{"largest int", math.MaxInt},
	{"smallest int", math.MinInt},
	{"int64", int64(-7)},
	{"largest int64", int64(math.MaxInt64)},
	{"int32", int32(-32)},
	{"int16", int16(math.MinInt16)},
	{"int8", int8(math.MaxInt8)},
	{"uint8", uint8(math.MaxUint8)},
	{"uint16", uint16(math.MaxUint16)},
	{"uint32", uint32(math.MaxUint32)},
	{"float64", 2.5},
	{"float32", float32(0.1)},
	{"time on a millisecond", time.UnixMilli(1714555800123)},
	{"time with nanoseconds", time.Unix(1714555800, 123456789)},
	{"time before 1970", time.Unix(-1, 999_999_999)},
	{"time in a zone with a clock reading", time.Now().In(
		time.FixedZone("CEST", 2*60*60))},
	{"zero time", time.Time{}},
	{"bytes", []byte{0, 1, 0xff}},
	{"empty bytes", []byte{}},
	{"nil bytes", []byte(nil)},
	{"strings", []string{"admin", "", "dev"}},
	{"empty strings", []string{}},
	{"nil strings", []string(nil)},
	{"array", []any{"a", 1, int64(2), nil, []any{uint8(3)}}},
	{"empty array", []any{}},
	{"nil array", []any(nil)},
	{"map", map[string]any{"name": "ada", "n": int16(3),
		"inner": map[string]any{"at": time.Unix(0, 1)}}},
	{"empty map", map[string]any{}},
	{"nil map", map[string]any(nil)},
}

func TestDocumentRoundTripsEachTypeAtTopLevel(t *testing.T) {
	for _, tc := range docTypes {
		t.Run(tc.name, func(t *testing.T) {
			checkDocRoundTrip(t, map[any]any{"x": tc.value})
		})
	}
}

func TestDocumentRoundTripsEachTypeInsideAnArray(t *testing.T) {
	for _, tc := range docTypes {
		t.Run(tc.name, func(t *testing.T) {
			checkDocRoundTrip(t, map[any]any{
				"list": []any{"before", tc.value, int64(1)}})
		})
	}
}

func TestDocumentRoundTripsEachTypeInsideAMap(t *testing.T) {
	for _, tc := range docTypes {
		t.Run(tc.name, func(t *testing.T) {
			checkDocRoundTrip(t, map[any]any{
				"m": map[string]any{"x": tc.value, "y": int8(-1)}})
		})
	}
}

func TestDocumentRoundTripsAllTypesInOneSession(t *testing.T) {
	values := map[any]any{}
	for _, tc := range docTypes {
		values[tc.name] = tc.value
	}
	checkDocRoundTrip(t, values)
}

// checkDocRoundTrip serializes values, reads them back and wants the same
// values, times as the same instants in UTC.
func checkDocRoundTrip(t *testing.T, values map[any]any) {
	t.Helper()
	data, err := DocumentSerializer{}.Serialize(values)
	if err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	got := map[any]any{}
	if err := (DocumentSerializer{}).Deserialize(data, got); err != nil {
		t.Fatalf("Deserialize: %v\n%v", err, bson.Raw(data))
	}

	want := map[any]any{}
	for k, x := range values {
		want[k] = inUTC(x)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

// inUTC returns x with each time in it moved to UTC, which also drops its
// monotonic clock reading, as a time read back is.
func inUTC(x any) any {
	switch x := x.(type) {
	case time.Time:
		return x.UTC()
	case []any:
		if x == nil {
			return x
		}
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = inUTC(e)
		}
		return a
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = inUTC(e)
		}
		return m
	}
	return x
}

func TestDocumentTimeKeepsNanosecondsAndComesBackInUTC(t *testing.T) {
	zone := time.FixedZone("UTC-3", -3*60*60)
	at := time.Date(2025, 5, 1, 6, 30, 0, 123456789, zone)
	data, err := DocumentSerializer{}.Serialize(map[any]any{"at": at})
	if err != nil {
		t.Fatal(err)
	}

	raw := bson.Raw(data)
	if ms := raw.Lookup("v", "at").Time(); !ms.Equal(at.Truncate(
		time.Millisecond)) {
		t.Errorf("stored date %v, want %v to the millisecond", ms, at)
	}
	if tag := raw.Lookup("t", "at").StringValue(); tag != "time:456789" {
		t.Errorf("tag %q, want time:456789", tag)
	}

	got := map[any]any{}
	if err := (DocumentSerializer{}).Deserialize(data, got); err != nil {
		t.Fatal(err)
	}
	back := got["at"].(time.Time)
	if !back.Equal(at) || back.Location() != time.UTC {
		t.Errorf("read back %v, want %v in UTC", back, at)
	}
}

func TestDocumentKeepsFlashesExactly(t *testing.T) {
	session := sessions.NewSession(nil, "sid")
	session.AddFlash("saved")
	session.AddFlash("and again")
	session.AddFlash("errors", "errors")
	data, err := DocumentSerializer{}.Serialize(session.Values)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bson.Raw(data).LookupErr("t"); err == nil {
		t.Errorf("flashes of strings need no tags: %v", bson.Raw(data))
	}

	loaded := sessions.NewSession(nil, "sid")
	if err := (DocumentSerializer{}).Deserialize(data,
		loaded.Values); err != nil {
		t.Fatal(err)
	}
	if got := loaded.Flashes(); !reflect.DeepEqual(got,
		[]any{"saved", "and again"}) {
		t.Errorf("flashes %#v", got)
	}
	if got := loaded.Flashes("errors"); !reflect.DeepEqual(got,
		[]any{"errors"}) {
		t.Errorf("flashes under errors %#v", got)
	}
}

type docRole string

func TestDocumentRefusesWhatItCannotStore(t *testing.T) {
	deep := []any{nil}
	deep[0] = deep
	cases := []struct {
		name   string
		values map[any]any
		want   []string // in the error
	}{
		{"non-string key", map[any]any{42: "x"}, []string{"42", "int"}},
		{"dotted key", map[any]any{"user.id": 1},
			[]string{`"user.id"`, "'.'"}},
		{"dollar key", map[any]any{"$where": 1},
			[]string{`"$where"`, "'$'"}},
		{"empty key", map[any]any{"": 1}, []string{"empty"}},
		{"NUL in key", map[any]any{"a\x00b": 1}, []string{"NUL"}},
		{"struct", map[any]any{"profile": testProfile{Name: "ada"}},
			[]string{`"profile"`, "mongostore.testProfile"}},
		{"uint64", map[any]any{"n": uint64(1)},
			[]string{`"n"`, "uint64", "int64"}},
		{"uint", map[any]any{"n": uint(1)}, []string{`"n"`, "uint"}},
		{"pointer", map[any]any{"p": new(string)}, []string{"*string"}},
		{"named string type", map[any]any{"r": docRole("admin")},
			[]string{"mongostore.docRole"}},
		{"slice of ints", map[any]any{"s": []int{1}}, []string{"[]int"}},
		{"channel", map[any]any{"c": make(chan int)},
			[]string{"chan int"}},
		{"struct in an array", map[any]any{"list": []any{1,
			testProfile{}}}, []string{`"list.1"`, "testProfile"}},
		{"non-string key in a nested map", map[any]any{"m": map[string]any{
			"inner": map[any]any{1: "x"}}},
			[]string{`"m.inner"`, "map[interface {}]interface {}"}},
		{"dotted key in a nested map", map[any]any{"m": map[string]any{
			"a.b": 1}}, []string{`"a.b" in "m"`}},
		{"dollar key in a map in an array", map[any]any{"list": []any{
			map[string]any{"$gt": ""}}}, []string{`"$gt" in "list.0"`}},
		{"slice that holds itself", map[any]any{"d": deep},
			[]string{`"d"`, "nested more than 100"}},
		{"time past the dates BSON holds", map[any]any{
			"at": time.Unix(1<<60, 0)}, []string{`"at"`, "beyond"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := DocumentSerializer{}.Serialize(tc.values)
			if err == nil {
				t.Fatalf("no error, encoded %v", bson.Raw(data))
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %s", err, want)
				}
			}
		})
	}
}

// d builds a bson.D from keys and values in turn.
func d(kv ...any) bson.D {
	doc := make(bson.D, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		doc = append(doc, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return doc
}

// docBSON marshals a document built in a test, which may be one that
// Serialize would never write.
func docBSON(t testing.TB, doc bson.D) []byte {
	t.Helper()
	data, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// forged marshals {v: v, t: t}.
func forged(t testing.TB, v, tags bson.D) []byte {
	t.Helper()
	return docBSON(t, d("v", v, "t", tags))
}

// nestedDoc returns the BSON of n documents each inside the last, under
// key a, with no limit on n. It writes the bytes itself: wrapping one
// document in the next would copy them n times.
func nestedDoc(n int) []byte {
	// A document of k levels takes 8k-3 bytes: its length, the type, key
	// and NUL of a, what a holds, and the NUL that ends it.
	var doc []byte
	for k := n; k > 1; k-- {
		doc = binary.LittleEndian.AppendUint32(doc, uint32(8*k-3))
		doc = append(doc, byte(bsoncore.TypeEmbeddedDocument), 'a', 0)
	}
	doc = append(doc, 5, 0, 0, 0, 0)
	return append(doc, make([]byte, n-1)...)
}

// docWithValues returns {v: {a: inner}}, inner a BSON document.
func docWithValues(inner []byte) []byte {
	return docWithElement(bsoncore.AppendDocumentElement(nil, "a", inner))
}

// docWithElement returns {v: {elem}}, elem a BSON element as raw bytes.
func docWithElement(elem []byte) []byte {
	return bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(nil,
		"v", bsoncore.BuildDocument(nil, elem)))
}

// damaged holds elements whose lengths add up, so that the document
// validates, but whose contents are not what their type needs; the
// driver's accessors without OK panic on them.
var damaged = []struct {
	name string
	elem []byte
}{
	{"old binary with a longer inner length", append(bsoncore.AppendHeader(
		nil, bsoncore.TypeBinary, "b"), 4, 0, 0, 0, 2, 100, 0, 0, 0)},
	{"string of length 0", append(bsoncore.AppendHeader(nil,
		bsoncore.TypeString, "s"), 0, 0, 0, 0)},
	{"boolean neither 0 nor 1", append(bsoncore.AppendHeader(nil,
		bsoncore.TypeBoolean, "b"), 2)},
}

func TestDocumentDeserializeRefusesForeignOrDamagedData(t *testing.T) {
	gob, _ := GobSerializer{}.Serialize(map[any]any{"user": "ada"})
	json, _ := JSONSerializer{}.Serialize(map[any]any{"user": "ada"})
	badKeys := bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(
		nil, "v", bsoncore.BuildDocument(nil, bsoncore.AppendArrayElement(
			nil, "a", bsoncore.BuildDocument(nil,
				bsoncore.AppendStringElement(nil, "x", "y"))))))

	cases := []struct {
		name string
		data []byte
		want string // in the error, if not empty
	}{
		{"nil", nil, ""},
		{"text", []byte("not bson at all"), ""},
		{"gob", gob, ""},
		{"JSON", json, ""},
		{"a byte after the document",
			append(docBSON(t, d("v", d())), 0), ""},
		{"no values", docBSON(t, d()), "no values"},
		{"values not a document", docBSON(t, d("v", "x")), "string"},
		{"values twice", docBSON(t, d("v", d(), "v", d())), "twice"},
		{"another field", docBSON(t, d("v", d(), "x", d())), `"x"`},
		{"tags not a document", docBSON(t, d("v", d(), "t", 1)), ""},
		{"object ID", docBSON(t, d("v", d("id", bson.NewObjectID()))),
			`"id"`},
		{"decimal", docBSON(t, d("v", d("n", bson.Decimal128{}))),
			"decimal"},
		{"binary of another subtype", docBSON(t, d("v", d("b",
			bson.Binary{Subtype: 4, Data: make([]byte, 16)}))), "binary"},
		{"dotted key", docBSON(t, d("v", d("a.b", 1))), "'.'"},
		{"dollar key in a nested document",
			docBSON(t, d("v", d("m", d("$gt", 1)))), `"$gt" in "m"`},
		{"duplicate key", docBSON(t, d("v", d("a", 1, "a", 2))), "twice"},
		{"array keys not indexes", badKeys, "key"},
		{"unknown tag", forged(t, d("a", int32(1)), d("a", "complex128")),
			"complex128"},
		{"empty tag", forged(t, d("a", int32(1)), d("a", "")), "empty"},
		{"tag of the wrong BSON type",
			forged(t, d("a", int32(1)), d("a", "int64")), "int64"},
		{"tag for a missing value", forged(t, d(), d("gone", "int64")),
			`"gone"`},
		{"tag for a missing element", forged(t, d("a", bson.A{"x"}),
			d("a", d("1", "int8"))), `"a.1"`},
		{"strings tag on a string", forged(t, d("s", bson.A{"x"}),
			d("s", d("0", "[]string"))), `"s.0"`},
		{"tags under a leaf", forged(t, d("a", "x"), d("a", d("b", "int8"))),
			`"a"`},
		{"tag not a string", forged(t, d("a", int32(1)), d("a", int32(8))),
			""},
		{"two tags for a value", forged(t, d("a", int32(1)),
			d("a", "int8", "a", "int16")), "two tags"},
		{"uint8 out of range", forged(t, d("a", int32(256)),
			d("a", "uint8")), "uint8"},
		{"negative uint32", forged(t, d("a", int64(-1)), d("a", "uint32")),
			"uint32"},
		{"double no float32 holds", forged(t, d("a", 0.1),
			d("a", "float32")), "float32"},
		{"strings holding a number", forged(t, d("s", bson.A{"x", 1}),
			d("s", "[]string")), "[]string"},
		{"nil tag on a value", forged(t, d("m", d()),
			d("m", "map[string]any")), "map[string]any"},
		{"time tag on a string", forged(t, d("a", "x"), d("a", "time:5")),
			"time:5"},
		{"time tag of a millisecond", forged(t, d("a", bson.DateTime(0)),
			d("a", "time:1000000")), "nanoseconds"},
		{"time tag without a number", forged(t, d("a", bson.DateTime(0)),
			d("a", "time:x")), "time:x"},
		{"nested too deep", docWithValues(nestedDoc(maxNesting + 1)),
			"nested more than"},
		{"nested far too deep", docWithValues(nestedDoc(100_000)),
			"nested more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := map[any]any{}
			err := DocumentSerializer{}.Deserialize(tc.data, values)
			if err == nil {
				t.Fatalf("no error, read %#v from %v", values,
					bson.Raw(tc.data))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %s", err, tc.want)
			}
		})
	}
}

// TestDocumentDamagedValuesAreErrorsNotPanics pins down what fuzzing
// found: a document can validate yet hold values the driver panics on.
func TestDocumentDamagedValuesAreErrorsNotPanics(t *testing.T) {
	for _, tc := range damaged {
		t.Run(tc.name, func(t *testing.T) {
			err := DocumentSerializer{}.Deserialize(docWithElement(tc.elem),
				map[any]any{})
			if err == nil || !strings.Contains(err.Error(), "not one") {
				t.Errorf("err = %v, want one saying it is not a value "+
					"Serialize writes", err)
			}
		})
	}
}

func TestDocumentTruncatedDataIsAnError(t *testing.T) {
	data, err := DocumentSerializer{}.Serialize(map[any]any{"user": "ada",
		"n": int64(3), "_flash": []any{"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(data) {
		err := DocumentSerializer{}.Deserialize(data[:n], map[any]any{})
		if err == nil {
			t.Errorf("%d of %d bytes decoded without error", n, len(data))
		}
	}
}

func TestDocumentNestingLimitIsTheSameBothWays(t *testing.T) {
	nest := func(n int) map[string]any {
		m := map[string]any{}
		for range n - 1 {
			m = map[string]any{"a": m}
		}
		return m
	}
	checkDocRoundTrip(t, map[any]any{"a": nest(maxNesting)})
	_, err := DocumentSerializer{}.Serialize(map[any]any{
		"a": nest(maxNesting + 1)})
	if err == nil {
		t.Errorf("%d levels encoded", maxNesting+1)
	}

	if err := (DocumentSerializer{}).Deserialize(docWithValues(
		nestedDoc(maxNesting)), map[any]any{}); err != nil {
		t.Errorf("%d levels: %v", maxNesting, err)
	}
}

// TestDocumentEncodingIsStable pins down that equal values make equal
// bytes, whatever order their maps were filled in, since Save skips a
// session whose encoding has not changed.
func TestDocumentEncodingIsStable(t *testing.T) {
	keys := []string{"zeta", "alpha", "_flash", "m", "Beta", "n", "é"}
	fill := func(order []string) map[any]any {
		values := map[any]any{}
		inner := map[string]any{}
		for _, k := range order {
			values[k] = int64(len(k))
			inner[k] = []any{k, uint16(len(k))}
		}
		values["m"] = inner
		return values
	}
	reversed := append([]string(nil), keys...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}

	first, err := DocumentSerializer{}.Serialize(fill(keys))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		order := keys
		if i%2 == 1 {
			order = reversed
		}
		again, err := DocumentSerializer{}.Serialize(fill(order))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, first) {
			t.Fatalf("encoding %d differs:\n%v\n%v", i, bson.Raw(again),
				bson.Raw(first))
		}
	}

	elems, _ := bson.Raw(first).Lookup("v").Document().Elements()
	var got []string
	for _, e := range elems {
		got = append(got, e.Key())
	}
	want := []string{"Beta", "_flash", "alpha", "m", "n", "zeta", "é"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys in order %q, want %q", got, want)
	}
}

func TestDocumentOutputIsReadableBSON(t *testing.T) {
	data, err := DocumentSerializer{}.Serialize(map[any]any{
		"user":   "ada",
		"visits": 12,
		"id":     int64(7),
		"list":   []any{"a", "b", uint8(2)},
		"prefs":  map[string]any{"size": float32(1.5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := bson.Raw(data)
	if err := raw.Validate(); err != nil {
		t.Fatal(err)
	}

	if user, ok := raw.Lookup("v", "user").StringValueOK(); !ok ||
		user != "ada" {
		t.Errorf("v.user is %v, want the string ada", raw.Lookup("v",
			"user"))
	}
	if n, ok := raw.Lookup("v", "visits").Int64OK(); !ok || n != 12 {
		t.Errorf("v.visits is %v, want 12", raw.Lookup("v", "visits"))
	}
	for _, path := range [][]string{{"t", "id"}, {"t", "list", "2"},
		{"t", "prefs", "size"}} {
		if _, err := raw.LookupErr(path...); err != nil {
			t.Errorf("no tag at %s", strings.Join(path, "."))
		}
	}
	for _, path := range [][]string{{"t", "user"}, {"t", "visits"},
		{"t", "list", "0"}} {
		if _, err := raw.LookupErr(path...); err == nil {
			t.Errorf("a tag at %s, whose type BSON says",
				strings.Join(path, "."))
		}
	}

	// The driver reads the values as they would be queried.
	var doc struct {
		V struct {
			User  string `bson:"user"`
			List  []any  `bson:"list"`
			Prefs bson.M `bson:"prefs"`
		} `bson:"v"`
	}
	if err := bson.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.V.User != "ada" || doc.V.Prefs["size"] != 1.5 {
		t.Errorf("the driver read %+v", doc.V)
	}
}

// TestDocumentMatchesTheGodocExample pins down the format as the godoc of
// DocumentSerializer shows it.
func TestDocumentMatchesTheGodocExample(t *testing.T) {
	seen := time.Date(2025, 5, 1, 9, 30, 0, 123456789, time.UTC)
	data, err := DocumentSerializer{}.Serialize(map[any]any{
		"user":   "ada",
		"visits": 12,
		"id":     int64(7),
		"seen":   seen,
		"roles":  []string{"admin", "dev"},
		"_flash": []any{"saved"},
		"prefs":  map[string]any{"theme": "dark", "size": float32(1.5)},
	})
	if err != nil {
		t.Fatal(err)
	}

	want := docBSON(t, d(
		"v", d("_flash", bson.A{"saved"}, "id", int64(7),
			"prefs", d("size", 1.5, "theme", "dark"),
			"roles", bson.A{"admin", "dev"},
			"seen", bson.NewDateTimeFromTime(seen), "user", "ada",
			"visits", int64(12)),
		"t", d("id", "int64", "prefs", d("size", "float32"),
			"roles", "[]string", "seen", "time:456789")))
	if !bytes.Equal(data, want) {
		t.Errorf("got  %v\nwant %v", bson.Raw(data), bson.Raw(want))
	}
}

func TestDocumentEmptySessionIsAnEmptyValuesDocument(t *testing.T) {
	data, err := DocumentSerializer{}.Serialize(map[any]any{})
	if err != nil {
		t.Fatal(err)
	}
	want := docBSON(t, d("v", d()))
	if !bytes.Equal(data, want) {
		t.Errorf("got %v, want %v", bson.Raw(data), bson.Raw(want))
	}
}

// FuzzDocumentSerializer feeds arbitrary bytes to Deserialize: it must
// not panic, and whatever it reads must encode again, to the same bytes
// each time.
func FuzzDocumentSerializer(f *testing.F) {
	for _, values := range []map[any]any{
		{},
		{"user": "ada", "_flash": []any{"saved"}},
		{"n": int64(1), "at": time.Unix(1, 5), "s": []string{"a"},
			"m": map[string]any{"b": []byte{1}, "f": float32(2),
				"l": []any{uint8(1), nil, map[string]any(nil)}}},
	} {
		data, err := DocumentSerializer{}.Serialize(values)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	gob, _ := GobSerializer{}.Serialize(map[any]any{"user": "ada"})
	f.Add(gob)
	f.Add([]byte("junk"))
	f.Add(docWithValues(nestedDoc(maxNesting + 1)))
	for _, tc := range damaged {
		f.Add(docWithElement(tc.elem))
	}
	f.Add(forged(f, d("a", int32(300)), d("a", "uint8")))
	f.Add(forged(f, d("a", bson.A{"x", 1.5}), d("a", d("1", "float32"))))

	f.Fuzz(func(t *testing.T, data []byte) {
		values := map[any]any{}
		if err := (DocumentSerializer{}).Deserialize(data,
			values); err != nil {
			return
		}
		once, err := DocumentSerializer{}.Serialize(values)
		if err != nil {
			t.Fatalf("read %#v, which does not encode: %v", values, err)
		}

		again := map[any]any{}
		if err := (DocumentSerializer{}).Deserialize(once,
			again); err != nil {
			t.Fatalf("cannot read its own encoding: %v", err)
		}
		twice, err := DocumentSerializer{}.Serialize(again)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("encodings differ (%v):\n%v\n%v", err,
				bson.Raw(once), bson.Raw(twice))
		}
	})
}
