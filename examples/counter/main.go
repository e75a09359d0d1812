// Command counter is the classic gorilla/sessions views counter on
// MongoDB: each visit adds one to a count kept in the visitor's session.
//
// It connects to MONGODB_URI (default mongodb://127.0.0.1:27017) and
// serves http://127.0.0.1:8080, or ADDR if set. Run it with make demo,
// which starts a development server first. Because the session lives in
// the database, restarting the app keeps every visitor's count.
package main

import (
	"context"
	"errors"
	"html/template"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mongostore/mongostore"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// devKey signs cookies when SESSION_KEY is not set. It is public, so it
// is only fit for a demo on your own machine.
const devKey = "counter-demo-key-not-for-production!"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	uri := envOr("MONGODB_URI", "mongodb://127.0.0.1:27017")
	addr := envOr("ADDR", "127.0.0.1:8080")
	key := envOr("SESSION_KEY", devKey)

	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	store, err := openStore(ctx,
		client.Database("counter").Collection("sessions"), key)
	if err != nil {
		return err
	}
	defer store.Close()

	srv := &http.Server{Addr: addr, Handler: newApp(store),
		ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(),
			5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("counter: serving http://%s (sessions in %s)", addr, uri)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openStore is the one line that differs from a CookieStore app, plus the
// demo's one change to the defaults.
func openStore(ctx context.Context, coll *mongo.Collection,
	key string) (*mongostore.MongoStore, error) {
	store, err := mongostore.New(ctx, coll, [][]byte{[]byte(key)})
	if err != nil {
		return nil, err
	}
	// Browsers send Secure cookies only over HTTPS (and to localhost);
	// the demo serves plain HTTP on 127.0.0.1, so it turns that off.
	store.Options.Secure = false
	return store, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>Counter</title>
<h1>You have been here {{.Views}} time{{if ne .Views 1}}s{{end}}.</h1>
<p>Your session expires at {{.Expires.Format "2006-01-02 15:04:05 MST"}}
unless you come back before then.</p>
<form method="post" action="/logout"><button>Forget me</button></form>
`))

// newApp returns the counter's handler: GET / counts a view, POST /logout
// deletes the session.
func newApp(store *mongostore.MongoStore) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, "counter")
		// A cookie or a stored session that no longer decodes (say, after
		// a key change) leaves a new session to carry on with; any other
		// error is the database failing.
		if err != nil && !errors.Is(err, mongostore.ErrInvalidCookie) &&
			!errors.Is(err, mongostore.ErrDecode) {
			http.Error(w, "session store unavailable",
				http.StatusServiceUnavailable)
			return
		}

		views, _ := session.Values["views"].(int)
		views++
		session.Values["views"] = views
		err = session.Save(r, w)
		// Gone: the visitor logged out in another tab meanwhile. The
		// store cleared the cookie, so the next visit starts afresh.
		if err != nil && !errors.Is(err, mongostore.ErrSessionGone) {
			http.Error(w, "cannot save session",
				http.StatusServiceUnavailable)
			return
		}

		expires := time.Now().Add(
			time.Duration(session.Options.MaxAge) * time.Second)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, struct {
			Views   int
			Expires time.Time
		}{views, expires})
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter,
		r *http.Request) {
		session, _ := store.Get(r, "counter")
		session.Options.MaxAge = -1
		if err := session.Save(r, w); err != nil {
			http.Error(w, "cannot delete session",
				http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	return mux
}
