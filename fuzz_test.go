package mongostore

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The fuzz targets run briefly in CI (make fuzz); their seeds live in
// testdata/fuzz. None needs a server.

// FuzzCookie feeds arbitrary cookie values to New: whatever arrives, it
// returns a new session, and no forged value gets past the signature.
func FuzzCookie(f *testing.F) {
	s, err := New(f.Context(), offlineCollection(f), testKeys,
		WithExpiry(ExpiryDisabled), WithTimeout(50*time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	valid, err := s.Codecs[0].Encode("sid", []byte(newID()))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "garbage", valid, valid[:20],
		`{"$gt":""}`, strings.Repeat("A", 5000), "a=b; c", "%00%ff"} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, value string) {
		r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		r.Header.Set("Cookie", "sid="+value)
		session, err := s.New(r, "sid")
		if session == nil {
			t.Fatal("nil session")
		}
		if value != valid && err == nil && !session.IsNew {
			t.Fatalf("cookie %q loaded a session", value)
		}
	})
}

// FuzzStoredDocument feeds arbitrary bytes to the decoding of a stored
// document and of its values, with both serializers.
func FuzzStoredDocument(f *testing.F) {
	data, _ := GobSerializer{}.Serialize(map[any]any{"user": "ada",
		"n": 3, "_flash": []any{"hi"}, "profile": testProfile{Name: "x"}})
	json, _ := JSONSerializer{}.Serialize(map[any]any{"user": "ada"})
	now := time.Now()
	for _, doc := range []any{
		document{ID: newID(), Data: data, Expires: now, Modified: now,
			Created: now},
		document{ID: newID(), Data: json, Expires: now},
		bson.D{{Key: "_id", Value: 1}, {Key: "data", Value: "text"},
			{Key: "expires", Value: "tomorrow"}},
		bson.D{{Key: "_id", Value: "x"}, {Key: "data", Value: data}},
		bson.D{{Key: "data", Value: bson.D{{Key: "$gt", Value: ""}}}},
	} {
		raw, err := bson.Marshal(doc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(json)

	f.Fuzz(func(t *testing.T, raw []byte) {
		if doc, err := decodeDocument(raw); err == nil {
			_ = GobSerializer{}.Deserialize(doc.Data, map[any]any{})
			_ = JSONSerializer{}.Deserialize(doc.Data, map[any]any{})
		}
		_ = GobSerializer{}.Deserialize(raw, map[any]any{})
		_ = JSONSerializer{}.Deserialize(raw, map[any]any{})
	})
}
