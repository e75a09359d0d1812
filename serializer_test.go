package mongostore

import (
	"bytes"
	"encoding/gob"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

type testProfile struct {
	Name  string
	Roles []string
}

type unregistered struct{ X int }

func init() {
	gob.Register(testProfile{})
}

func TestGobRoundTripsFlashesIntsAndRegisteredStructs(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	session, _ := load(t, s, "sid")
	session.AddFlash("saved")
	session.AddFlash("twice")
	session.Values["n"] = 7
	session.Values[3] = int64(-1)
	session.Values["profile"] = testProfile{Name: "ada",
		Roles: []string{"admin"}}
	want := copyValues(session.Values)
	c := mustSave(t, s, session)

	got, err := load(t, s, "sid", c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Values, want) {
		t.Errorf("values %#v, want %#v", got.Values, want)
	}
	if flashes := got.Flashes(); !reflect.DeepEqual(flashes,
		[]any{"saved", "twice"}) {
		t.Errorf("flashes %v", flashes)
	}
}

func copyValues(v map[any]any) map[any]any {
	c := make(map[any]any, len(v))
	for k, x := range v {
		c[k] = x
	}
	return c
}

func TestUnencodableValuesWriteNothing(t *testing.T) {
	cases := []struct {
		name  string
		opts  []Option
		key   any
		value any
		want  error
	}{
		{"unregistered gob type", nil, "x", unregistered{1}, ErrEncode},
		{"non-string JSON key", []Option{WithSerializer(JSONSerializer{})},
			42, "x", ErrEncode},
		{"over the max length", []Option{WithMaxLength(1024)}, "x",
			strings.Repeat("a", 2048), ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			coll := newCollection(t)
			s := newStore(t, coll, tc.opts...)
			c := startSession(t, s, "sid", map[any]any{"keep": "me"})
			before := findDoc(t, coll, idOf(t, s, c))

			session, _ := load(t, s, "sid", c)
			session.Values[tc.key] = tc.value
			cookie, err := save(t, s, session)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if cookie != nil {
				t.Errorf("cookie %v set by a failed Save", cookie)
			}
			after := findDoc(t, coll, before.ID)
			if !bytes.Equal(after.Data, before.Data) ||
				!after.Modified.Equal(before.Modified) {
				t.Error("the stored session changed")
			}

			fresh, _ := load(t, s, "sid")
			fresh.Values[tc.key] = tc.value
			if _, err := save(t, s, fresh); !errors.Is(err, tc.want) {
				t.Errorf("new session: err = %v, want %v", err, tc.want)
			}
			if n := countDocs(t, coll); n != 1 {
				t.Errorf("%d documents, want only the first", n)
			}
		})
	}
}

func TestUnregisteredTypeErrorNamesTheType(t *testing.T) {
	_, err := GobSerializer{}.Serialize(map[any]any{"x": unregistered{}})
	if err == nil || !strings.Contains(err.Error(), "unregistered") {
		t.Errorf("err = %v, want one naming the type", err)
	}
}

func TestJSONSerializerRoundTrip(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithSerializer(JSONSerializer{}))
	session, _ := load(t, s, "sid")
	session.Values["user"] = "ada"
	session.Values["n"] = 3
	session.AddFlash("hello")
	c := mustSave(t, s, session)

	got, err := load(t, s, "sid", c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[any]any{"user": "ada", "n": float64(3),
		"_flash": []any{"hello"}}
	if !reflect.DeepEqual(got.Values, want) {
		t.Errorf("values %#v, want %#v", got.Values, want)
	}
	doc := findDoc(t, coll, got.ID)
	if !strings.Contains(string(doc.Data), `"user":"ada"`) {
		t.Errorf("stored data %q is not the JSON object", doc.Data)
	}
}

func TestUndecodableStoredDataIsAnError(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	id := idOf(t, s, c)
	if _, err := coll.UpdateByID(t.Context(), id, map[string]any{
		"$set": map[string]any{"data": []byte("not gob")}}); err != nil {
		t.Fatal(err)
	}

	session, err := load(t, s, "sid", c)
	if !errors.Is(err, ErrDecode) {
		t.Errorf("err = %v, want ErrDecode", err)
	}
	if !session.IsNew || len(session.Values) != 0 {
		t.Errorf("got IsNew %v, values %v; want a new session",
			session.IsNew, session.Values)
	}
	if findDoc(t, coll, id) == nil {
		t.Error("the undecodable document was removed")
	}
}

// TestCachedGobDecodersAgreeWithFreshOnes decodes sessions of several
// shapes, many times and at once, and checks each against a decoder that
// starts from nothing, also after corrupt data of the same shape.
func TestCachedGobDecodersAgreeWithFreshOnes(t *testing.T) {
	shapes := []map[any]any{
		{"user": "ada", "n": 1},
		{"user": "bob", "n": 2, "_flash": []any{"hi", "there"}},
		{"profile": testProfile{Name: "eve", Roles: []string{"a", "b"}}},
		{7: int64(-3), "f": 2.5, "ok": true, "nil": nil},
		{},
	}
	fresh := func(data []byte) (map[any]any, error) {
		var flat []any
		err := gob.NewDecoder(bytes.NewReader(data)).Decode(&flat)
		m := map[any]any{}
		for i := 0; err == nil && i+1 < len(flat); i += 2 {
			m[flat[i]] = flat[i+1]
		}
		return m, err
	}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				values := shapes[(i+w)%len(shapes)]
				data, err := GobSerializer{}.Serialize(values)
				if err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					bad := append([]byte(nil), data...)
					bad[len(bad)-1] ^= 0xff
					_ = GobSerializer{}.Deserialize(bad, map[any]any{})
				}
				got := map[any]any{}
				if err := (GobSerializer{}).Deserialize(data,
					got); err != nil {
					t.Error(err)
					return
				}
				want, _ := fresh(data)
				if !reflect.DeepEqual(got, want) ||
					!reflect.DeepEqual(got, values) {
					t.Errorf("cached %v, fresh %v, saved %v", got, want,
						values)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestTruncatedGobDataIsAnError(t *testing.T) {
	data, _ := GobSerializer{}.Serialize(map[any]any{"user": "ada"})
	for n := range len(data) {
		err := GobSerializer{}.Deserialize(data[:n], map[any]any{})
		if err == nil {
			t.Errorf("%d of %d bytes decoded without error", n, len(data))
		}
	}
}
