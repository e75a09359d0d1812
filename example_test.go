package mongostore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/gorilla/sessions"
	"github.com/mongostore/mongostore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The examples run against MONGODB_URI (make test sets it) and check what
// they print. Each uses a collection of its own, emptied first.

var authKey = []byte("an-authentication-key-of-32-byte")

func collection(name string) *mongo.Collection {
	client, err := mongo.Connect(options.Client().
		ApplyURI(os.Getenv("MONGODB_URI")))
	if err != nil {
		log.Fatal(err)
	}
	coll := client.Database("mongostore_examples").Collection(name)
	if err := coll.Drop(context.Background()); err != nil {
		log.Fatal(err)
	}
	return coll
}

// browser plays a client with a cookie jar against a handler.
type browser struct{ cookies map[string]*http.Cookie }

func (b *browser) visit(h http.HandlerFunc) string {
	r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h(w, r)
	if b.cookies == nil {
		b.cookies = map[string]*http.Cookie{}
	}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
	return w.Body.String()
}

// An app built on sessions.CookieStore changes one call: the store is made
// from a collection and the same keys, and the handlers stay as they were.
func Example() {
	ctx := context.Background()
	// Was: store := sessions.NewCookieStore(authKey)
	store, err := mongostore.New(ctx, collection("example"),
		[][]byte{authKey})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	views := func(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, "session")
		if err != nil && !errors.Is(err, mongostore.ErrInvalidCookie) &&
			!errors.Is(err, mongostore.ErrDecode) {
			http.Error(w, "session store unavailable",
				http.StatusServiceUnavailable)
			return
		}
		n, _ := session.Values["views"].(int)
		session.Values["views"] = n + 1
		if err := sessions.Save(r, w); err != nil {
			http.Error(w, "cannot save session",
				http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "views: %d", n+1)
	}

	var b browser
	fmt.Println(b.visit(views))
	fmt.Println(b.visit(views))
	// Output:
	// views: 1
	// views: 2
}

// Options are checked when New runs, so that a mistake shows at start-up
// rather than at the first request.
func ExampleNew_options() {
	ctx := context.Background()
	store, err := mongostore.New(ctx, collection("options"), [][]byte{
		[]byte("new-authentication-key-32-bytes!"), nil,
		[]byte("old-authentication-key-32-bytes!"), nil,
	},
		mongostore.WithTimeout(2*time.Second),
		mongostore.WithTouchInterval(time.Minute),
		mongostore.WithAbsoluteTimeout(12*time.Hour),
		mongostore.WithBrowserSessionLifetime(8*time.Hour),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	store.MaxAge(7 * 24 * 3600) // cookie and codecs together

	_, err = mongostore.New(ctx, collection("options"), [][]byte{authKey},
		mongostore.WithTimeout(-time.Second))
	fmt.Println(errors.Is(err, mongostore.ErrInvalidOption))
	// Output:
	// true
}

// Logging out deletes the session's document and expires its cookie.
func ExampleMongoStore_Save_logout() {
	store, err := mongostore.New(context.Background(),
		collection("logout"), [][]byte{authKey})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	login := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["user"] = "ada"
		_ = session.Save(r, w)
	}
	logout := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Options.MaxAge = -1
		_ = session.Save(r, w)
	}
	whoami := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		fmt.Fprintf(w, "user: %v", session.Values["user"])
	}

	var b browser
	b.visit(login)
	fmt.Println(b.visit(whoami))
	b.visit(logout)
	fmt.Println(b.visit(whoami))
	// Output:
	// user: ada
	// user: <nil>
}

// RenewID moves a session to a fresh ID at login, so that an ID planted
// before the login (session fixation) is worth nothing after it.
func ExampleMongoStore_RenewID() {
	store, err := mongostore.New(context.Background(),
		collection("renew"), [][]byte{authKey})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	browse := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["cart"] = "1 book"
		_ = session.Save(r, w)
	}
	login := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["user"] = "ada"
		if err := store.RenewID(r, w, session); err != nil {
			http.Error(w, "cannot log in", http.StatusServiceUnavailable)
		}
	}
	whoami := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		fmt.Fprintf(w, "user %v, cart %v", session.Values["user"],
			session.Values["cart"])
	}

	var victim browser
	victim.visit(browse)
	planted := *victim.cookies["session"] // what an attacker fixed
	victim.visit(login)
	fmt.Println(victim.visit(whoami))

	attacker := browser{cookies: map[string]*http.Cookie{
		"session": &planted}}
	fmt.Println(attacker.visit(whoami))
	// Output:
	// user ada, cart 1 book
	// user <nil>, cart <nil>
}

// With optimistic concurrency, a Save of a session that another request
// changed since it was loaded fails with ErrConflict and writes nothing;
// load again and redo the change.
func ExampleWithOptimisticConcurrency() {
	store, err := mongostore.New(context.Background(),
		collection("optimistic"), [][]byte{authKey},
		mongostore.WithOptimisticConcurrency(true))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	var b browser
	b.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["items"] = 0
		_ = session.Save(r, w)
	})

	// Two requests load the session; the first one saves first.
	request := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://example.com/",
			nil)
		r.AddCookie(b.cookies["session"])
		return r
	}
	r1, r2 := request(), request()
	s1, _ := store.New(r1, "session")
	s2, _ := store.New(r2, "session")
	s1.Values["items"] = s1.Values["items"].(int) + 1
	_ = store.Save(r1, httptest.NewRecorder(), s1)

	s2.Values["items"] = s2.Values["items"].(int) + 1
	err = store.Save(r2, httptest.NewRecorder(), s2)
	fmt.Println(errors.Is(err, mongostore.ErrConflict))

	for range 3 { // the retry
		s2, _ = store.New(r2, "session")
		s2.Values["items"] = s2.Values["items"].(int) + 1
		err = store.Save(r2, httptest.NewRecorder(), s2)
		if !errors.Is(err, mongostore.ErrConflict) {
			break
		}
	}
	fmt.Println(s2.Values["items"], err)
	// Output:
	// true
	// 2 <nil>
}

// WithEncryption keeps session values unreadable in the database, for
// backups and for anyone with read access to the collection.
func ExampleWithEncryption() {
	coll := collection("encrypted")
	key := bytes.Repeat([]byte{7}, 32) // 32 random bytes, from your secrets
	store, err := mongostore.New(context.Background(), coll,
		[][]byte{authKey}, mongostore.WithEncryption(key))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	var b browser
	b.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["card"] = "4111 1111 1111 1111"
		_ = session.Save(r, w)
	})

	var raw bson.Raw
	_ = coll.FindOne(context.Background(), bson.D{}).Decode(&raw)
	fmt.Println(bytes.Contains(raw, []byte("4111")))
	fmt.Println(b.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		fmt.Fprint(w, session.Values["card"])
	}))
	// Output:
	// false
	// 4111 1111 1111 1111
}

// WithOwner records whose a session is, so that a password change can end
// all of that user's sessions at once.
func ExampleMongoStore_DeleteOwner() {
	ctx := context.Background()
	store, err := mongostore.New(ctx, collection("owners"),
		[][]byte{authKey}, mongostore.WithOwner("user"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	login := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["user"] = "ada"
		_ = session.Save(r, w)
	}
	var laptop, phone browser
	laptop.visit(login)
	phone.visit(login)

	n, _ := store.CountOwner(ctx, "ada")
	fmt.Println("sessions:", n)
	n, _ = store.DeleteOwner(ctx, "ada") // after a password change
	fmt.Println("ended:", n)
	fmt.Println(phone.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		fmt.Fprint(w, "user: ", session.Values["user"])
	}))
	// Output:
	// sessions: 2
	// ended: 2
	// user: <nil>
}

// Count, Sessions, Delete and Sweep serve an admin page or a job.
func ExampleMongoStore_Sessions() {
	ctx := context.Background()
	store, err := mongostore.New(ctx, collection("admin"),
		[][]byte{authKey})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for _, user := range []string{"ada", "bob"} {
		var b browser
		b.visit(func(w http.ResponseWriter, r *http.Request) {
			session, _ := store.Get(r, "session")
			session.Values["user"] = user
			_ = session.Save(r, w)
		})
	}

	n, _ := store.Count(ctx)
	fmt.Println("live sessions:", n)
	for info, err := range store.Sessions(ctx) {
		if err != nil {
			log.Print(err)
			continue
		}
		fmt.Println(info.Values["user"], time.Until(info.Expires) >
			29*24*time.Hour)
		if info.Values["user"] == "bob" {
			_ = store.Delete(ctx, info.ID)
		}
	}
	n, _ = store.Count(ctx)
	fmt.Println("live sessions:", n)
	// Output:
	// live sessions: 2
	// ada true
	// bob true
	// live sessions: 1
}

// Moving from CookieStore: the old cookies hold the values themselves, so
// the first request after the switch can read them once with the old store
// and carry them over into a session in MongoDB.
func ExampleNew_fromCookieStore() {
	old := sessions.NewCookieStore(authKey)
	store, err := mongostore.New(context.Background(),
		collection("migrate"), [][]byte{authKey})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A visitor who last came while the app used CookieStore.
	var b browser
	b.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := old.Get(r, "session")
		session.Values["user"] = "ada"
		_ = session.Save(r, w)
	})

	handler := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		if session.IsNew {
			// Perhaps the cookie is an old CookieStore one. With the same
			// keys it passes the signature check but holds no session ID,
			// so the store gives a new session without an error.
			if prev, err := old.New(r, "session"); err == nil {
				for k, v := range prev.Values {
					session.Values[k] = v
				}
			}
		}
		_ = session.Save(r, w)
		fmt.Fprint(w, "user: ", session.Values["user"])
	}
	fmt.Println(b.visit(handler))
	fmt.Println(b.visit(handler)) // now from MongoDB
	// Output:
	// user: ada
	// user: ada
}

// DocumentSerializer keeps values as a BSON sub-document that mongosh
// users can read and query, with their Go types intact.
func ExampleDocumentSerializer() {
	ctx := context.Background()
	coll := collection("readable")
	store, err := mongostore.New(ctx, coll, [][]byte{authKey},
		mongostore.WithSerializer(mongostore.DocumentSerializer{}))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	var b browser
	b.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Values["user"] = "ada"
		session.Values["visits"] = 3
		_ = session.Save(r, w)
	})

	// In mongosh: db.sessions.find({"data.v.user": "ada"})
	n, _ := coll.CountDocuments(ctx, bson.D{{Key: "data.v.user",
		Value: "ada"}})
	fmt.Println("found:", n)
	fmt.Println(b.visit(func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		fmt.Fprintf(w, "%T %v", session.Values["visits"],
			session.Values["visits"])
	}))
	// Output:
	// found: 1
	// int 3
}
