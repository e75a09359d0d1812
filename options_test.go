package mongostore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// offlineCollection is a collection of a client that never connects:
// mongo.Connect dials lazily, and a store whose New fails or whose expiry
// is disabled sends nothing.
func offlineCollection(t testing.TB) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://127.0.0.1:1").
		SetServerSelectionTimeout(100 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database("offline").Collection("sessions")
}

func TestBadArgumentsFailConstruction(t *testing.T) {
	coll := offlineCollection(t)
	key := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		coll *mongo.Collection
		keys [][]byte
		opts []Option
	}{
		{"nil collection", nil, [][]byte{key}, nil},
		{"no keys", coll, nil, nil},
		{"empty authentication key", coll, [][]byte{{}}, nil},
		{"empty rotated authentication key", coll,
			[][]byte{key, nil, nil}, nil},
		{"bad encryption key", coll, [][]byte{key, []byte("short")}, nil},
		{"zero timeout", coll, [][]byte{key},
			[]Option{WithTimeout(0)}},
		{"negative sweep interval", coll, [][]byte{key},
			[]Option{WithSweepInterval(-time.Second)}},
		{"unknown expiry", coll, [][]byte{key},
			[]Option{WithExpiry(Expiry(9))}},
		{"tiny browser session lifetime", coll, [][]byte{key},
			[]Option{WithBrowserSessionLifetime(time.Millisecond)}},
		{"zero max length", coll, [][]byte{key},
			[]Option{WithMaxLength(0)}},
		{"max length over 15 MiB", coll, [][]byte{key},
			[]Option{WithMaxLength(16 << 20)}},
		{"nil serializer", coll, [][]byte{key},
			[]Option{WithSerializer(nil)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(context.Background(), tc.coll, tc.keys,
				tc.opts...)
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("err = %v, want ErrInvalidOption", err)
			}
			if s != nil {
				t.Error("a store was returned with the error")
			}
		})
	}
}

func TestUnreachableServerFailsConstructionWithinTimeout(t *testing.T) {
	start := time.Now()
	_, err := New(context.Background(), offlineCollection(t), testKeys,
		WithTimeout(300*time.Millisecond))
	if err == nil {
		t.Fatal("New succeeded with no server")
	}
	if !strings.HasPrefix(err.Error(), "mongostore: ") {
		t.Errorf("err = %q, want the package prefix", err)
	}
	// Generous: this guards against waiting for the driver's 30 s
	// default, not against a slow machine.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("New took %v", d)
	}
}

func TestDefaultsAndMaxAge(t *testing.T) {
	s, err := New(context.Background(), offlineCollection(t), testKeys,
		WithExpiry(ExpiryDisabled))
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.timeout != DefaultTimeout ||
		s.cfg.browserSessionLifetime != DefaultBrowserSessionLifetime ||
		s.cfg.maxLength != DefaultMaxLength ||
		s.cfg.sweepInterval != DefaultSweepInterval {
		t.Errorf("defaults %+v", s.cfg)
	}
	if _, ok := s.cfg.serializer.(GobSerializer); !ok {
		t.Errorf("default serializer %T", s.cfg.serializer)
	}

	s.MaxAge(60)
	if s.Options.MaxAge != 60 {
		t.Errorf("Options.MaxAge = %d", s.Options.MaxAge)
	}
}

func TestExpiryString(t *testing.T) {
	for e, want := range map[Expiry]string{ExpiryNative: "native",
		ExpirySweep: "sweep", ExpiryDisabled: "disabled",
		Expiry(7): "Expiry(7)"} {
		if got := e.String(); got != want {
			t.Errorf("%d: %q, want %q", int(e), got, want)
		}
	}
}

func TestJitterStaysWithinAQuarter(t *testing.T) {
	d := time.Minute
	lo, hi := d, time.Duration(0)
	for range 1000 {
		j := jitter(d)
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo < d*3/4 || hi > d*5/4 || hi-lo < d/4 {
		t.Errorf("jitter spans [%v, %v], want a spread within "+
			"[45s, 75s]", lo, hi)
	}
}
