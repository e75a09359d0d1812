package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/sessions"
	"github.com/mongostore/mongostore"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// An app built on sessions.CookieStore changes one call: the store is made
// from a collection and the same keys, and the handlers stay as they were.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().
		ApplyURI(os.Getenv("MONGODB_URI")))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)

	// Was: store := sessions.NewCookieStore(authKey)
	authKey := []byte(os.Getenv("SESSION_KEY"))
	store, err := mongostore.New(ctx,
		client.Database("app").Collection("sessions"), [][]byte{authKey})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, "session")
		if err != nil && !errors.Is(err, mongostore.ErrInvalidCookie) {
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
		fmt.Fprintf(w, "views: %d\n", n+1)
	})
}

// Options are checked when New runs, so a mistake shows at start-up.
func ExampleNew_options() {
	ctx := context.Background()
	var coll *mongo.Collection // from your client

	store, err := mongostore.New(ctx, coll, [][]byte{
		[]byte("new-authentication-key-32-bytes!"), nil,
		[]byte("old-authentication-key-32-bytes!"), nil,
	},
		mongostore.WithTimeout(2*time.Second),
		mongostore.WithBrowserSessionLifetime(8*time.Hour),
		mongostore.WithSerializer(mongostore.JSONSerializer{}),
		mongostore.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Cookie settings are the exported Options, as in CookieStore.
	store.Options.Domain = "example.com"
	store.MaxAge(7 * 24 * 3600)
}

// Logging out deletes the session's document and expires its cookie.
func ExampleMongoStore_Save_logout() {
	var store *mongostore.MongoStore // from mongostore.New

	http.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		session.Options.MaxAge = -1
		if err := session.Save(r, w); err != nil {
			http.Error(w, "cannot log out", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}
