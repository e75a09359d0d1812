package mongostore

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The benchmarks put each store operation beside its floor: the driver
// alone sending the same round trips, in the same run, so that the ratio
// holds on a noisy machine. make bench runs them against the dev server.

// headerWriter is a ResponseWriter that keeps headers and drops the body,
// cleared between iterations so that it costs the store nothing.
type headerWriter http.Header

func (w headerWriter) Header() http.Header         { return http.Header(w) }
func (w headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w headerWriter) WriteHeader(int)             {}

func benchStore(b *testing.B, opts ...Option) (*MongoStore,
	*mongo.Collection) {
	b.Helper()
	if testDB == nil {
		b.Skip("no server: " + noServerWhy)
	}
	coll := testDB.Collection("bench")
	_ = coll.Drop(context.Background())
	b.Cleanup(func() { _ = coll.Drop(context.Background()) })
	s, err := New(context.Background(), coll, testKeys, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	benchWarmUp.Do(func() { warmServer(b, coll) })
	return s, coll
}

var benchWarmUp sync.Once

// warmServer writes for a while before anything is measured: a server
// that has just started, with a new database file, answers the first few
// thousand writes markedly slower, which would fall on whichever
// benchmark runs first.
func warmServer(b *testing.B, coll *mongo.Collection) {
	ctx := context.Background()
	id := newID()
	if _, err := coll.InsertOne(ctx, document{ID: id}); err != nil {
		b.Fatal(err)
	}
	for i := range 3000 {
		_, err := coll.UpdateOne(ctx, byID(id), bson.D{{Key: "$set",
			Value: bson.D{{Key: "n", Value: i}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := coll.DeleteOne(ctx, byID(id)); err != nil {
		b.Fatal(err)
	}
}

// benchValues is a typical logged-in session.
func benchValues() map[any]any {
	return map[any]any{"user": "ada@example.com", "uid": 81234,
		"roles": "admin,editor", "csrf": "6n3vM0b8kXy2Qe9wZr1tLq"}
}

func benchCookie(b *testing.B, s *MongoStore) *http.Cookie {
	b.Helper()
	session, _ := s.New(request(), "sid")
	for k, v := range benchValues() {
		session.Values[k] = v
	}
	w := headerWriter{}
	if err := s.Save(request(), w, session); err != nil {
		b.Fatal(err)
	}
	c, err := http.ParseSetCookie(w.Header().Get("Set-Cookie"))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func byID(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }

// sideBySide runs store and floor, operations that take the iteration
// number and fail the benchmark themselves, as sub-benchmarks of their
// own, then in turns in one loop ("paired"), which reports each one's mean
// time and their ratio: on a noisy machine, drift falls on both alike.
func sideBySide(b *testing.B, store, floor func(b *testing.B, i int)) {
	alone := func(op func(*testing.B, int)) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				op(b, i)
			}
		}
	}
	b.Run("store", alone(store))
	b.Run("floor", alone(floor))
	b.Run("paired", func(b *testing.B) {
		timed := func(op func(*testing.B, int), i int) time.Duration {
			start := time.Now()
			op(b, i)
			return time.Since(start)
		}
		var inStore, inFloor time.Duration
		for i := 0; b.Loop(); i++ {
			if i%2 == 0 {
				inStore += timed(store, i)
				inFloor += timed(floor, i)
			} else {
				inFloor += timed(floor, i)
				inStore += timed(store, i)
			}
		}
		n := float64(b.N)
		b.ReportMetric(float64(inStore.Nanoseconds())/n, "store-ns/op")
		b.ReportMetric(float64(inFloor.Nanoseconds())/n, "floor-ns/op")
		b.ReportMetric(float64(inStore)/float64(inFloor), "store/floor")
	})
}

// BenchmarkChangedSession is a request that changes the session: Get and
// Save, against one find by _id and one update of the same document.
func BenchmarkChangedSession(b *testing.B) {
	s, coll := benchStore(b)
	c := benchCookie(b, s)
	r := request(c)
	id := idOfBench(b, s, c)
	ctx := context.Background()
	w := headerWriter{}

	sideBySide(b, func(b *testing.B, i int) {
		clear(w)
		session, err := s.New(r, "sid")
		if err != nil {
			b.Fatal(err)
		}
		session.Values["n"] = i
		if err := s.Save(r, w, session); err != nil {
			b.Fatal(err)
		}
	}, func(b *testing.B, i int) {
		var doc document
		if err := coll.FindOne(ctx, byID(id)).Decode(&doc); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		_, err := coll.UpdateOne(ctx, byID(id), bson.D{{Key: "$set",
			Value: bson.D{
				{Key: "data", Value: doc.Data},
				{Key: "expires", Value: now.Add(time.Hour)},
				{Key: "modified", Value: now},
			}}})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkUnchangedSession is a request that reads the session and saves
// it unchanged inside the touch interval: Get and Save, against one find.
// The JSON variant shows the serializer's share: JSON decodes faster than
// gob's self-describing stream.
func BenchmarkUnchangedSession(b *testing.B) {
	for _, variant := range []struct {
		name string
		opts []Option
	}{
		{"gob", nil},
		{"json", []Option{WithSerializer(JSONSerializer{})}},
	} {
		b.Run(variant.name, func(b *testing.B) {
			s, coll := benchStore(b, append(variant.opts,
				WithTouchInterval(time.Hour))...)
			c := benchCookie(b, s)
			r := request(c)
			id := idOfBench(b, s, c)
			ctx := context.Background()
			w := headerWriter{}

			sideBySide(b, func(b *testing.B, _ int) {
				clear(w)
				session, err := s.New(r, "sid")
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Save(r, w, session); err != nil {
					b.Fatal(err)
				}
			}, func(b *testing.B, _ int) {
				var doc document
				err := coll.FindOne(ctx, byID(id)).Decode(&doc)
				if err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkNewSession is a first visit that stores something: Save of a
// new session, against one insert.
func BenchmarkNewSession(b *testing.B) {
	s, coll := benchStore(b)
	r := request()
	ctx := context.Background()
	w := headerWriter{}
	data, _ := GobSerializer{}.Serialize(map[any]any{
		"user": "ada@example.com"})

	sideBySide(b, func(b *testing.B, _ int) {
		clear(w)
		session := s.newSession("sid")
		session.Values["user"] = "ada@example.com"
		if err := s.Save(r, w, session); err != nil {
			b.Fatal(err)
		}
	}, func(b *testing.B, _ int) {
		now := time.Now()
		_, err := coll.InsertOne(ctx, document{ID: newID(), Data: data,
			Expires: now.Add(time.Hour), Modified: now, Created: now})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCookieStore is the same changed-session request with
// sessions.CookieStore: the cost of a request with no database at all.
func BenchmarkCookieStore(b *testing.B) {
	cs := sessions.NewCookieStore(testKeys...)
	session, _ := cs.New(request(), "sid")
	for k, v := range benchValues() {
		session.Values[k] = v
	}
	w := headerWriter{}
	if err := cs.Save(request(), w, session); err != nil {
		b.Fatal(err)
	}
	c, _ := http.ParseSetCookie(w.Header().Get("Set-Cookie"))
	r := request(c)

	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		clear(w)
		session, err := cs.New(r, "sid")
		if err != nil {
			b.Fatal(err)
		}
		session.Values["n"] = i
		if err := cs.Save(r, w, session); err != nil {
			b.Fatal(err)
		}
	}
}

func idOfBench(b *testing.B, s *MongoStore, c *http.Cookie) string {
	b.Helper()
	session, err := s.New(request(c), "sid")
	if err != nil || session.IsNew {
		b.Fatalf("cookie does not load (err %v)", err)
	}
	return session.ID
}
