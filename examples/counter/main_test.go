package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// testCollection connects to MONGODB_URI, as make test sets it; like the
// library's tests, it fails instead of skipping when
// MONGOSTORE_REQUIRE_SERVER is set.
func testCollection(t *testing.T) *mongo.Collection {
	t.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		if os.Getenv("MONGOSTORE_REQUIRE_SERVER") != "" {
			t.Fatal("MONGOSTORE_REQUIRE_SERVER is set but MONGODB_URI is not")
		}
		t.Skip("MONGODB_URI is not set")
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(fmt.Sprintf("counter_test_%d",
		time.Now().UnixNano()))
	t.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	return db.Collection("sessions")
}

// TestCountSurvivesRestart plays the demo's promise: one browser counts
// 1, 2, then 3 after the app restarts, and starts over after logging out.
func TestCountSurvivesRestart(t *testing.T) {
	coll := testCollection(t)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}

	visit := func(url, method, want string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Fatalf("%s %s: %q, want %q", method, url, body, want)
		}
	}
	start := func() *httptest.Server {
		store, err := openStore(t.Context(), coll, devKey)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newApp(store))
		t.Cleanup(func() { srv.Close(); store.Close() })
		return srv
	}

	first := start()
	visit(first.URL, http.MethodGet, "here 1 time.")
	visit(first.URL, http.MethodGet, "here 2 times.")
	first.Close()

	// Cookies are kept by host, not port, so the browser's cookie goes
	// to the restarted app.
	second := start()
	visit(second.URL, http.MethodGet, "here 3 times.")
	visit(second.URL+"/logout", http.MethodPost, "here 1 time.")
}
