package mongostore

import (
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Defaults for the settings that options change.
const (
	DefaultTimeout                = 5 * time.Second
	DefaultBrowserSessionLifetime = 24 * time.Hour
	DefaultSweepInterval          = time.Minute
	DefaultMaxLength              = 1 << 20 // 1 MiB

	// maxTimeout keeps deadlines where the driver can express them.
	maxTimeout = 24 * time.Hour

	// minSweepInterval keeps a typo from turning the sweeper into a busy
	// loop.
	minSweepInterval = 10 * time.Millisecond

	// maxMaxLength leaves room below MongoDB's 16 MiB document limit for
	// the other fields and the BSON framing.
	maxMaxLength = 15 << 20
)

// An Option changes a setting of the store that New builds. Options are
// checked when New runs: a bad value makes New fail with ErrInvalidOption.
type Option func(*config) error

type config struct {
	timeout                time.Duration
	expiry                 Expiry
	sweepInterval          time.Duration
	browserSessionLifetime time.Duration
	maxLength              int
	serializer             Serializer
	logger                 *slog.Logger
	saveEmpty              bool
	touchInterval          time.Duration
	absoluteTimeout        time.Duration
	optimistic             bool
	cipher                 *sealer
	ownerKey               string
	writeConcern           *writeconcern.WriteConcern
}

func defaultConfig() config {
	return config{
		timeout:                DefaultTimeout,
		expiry:                 ExpiryNative,
		sweepInterval:          DefaultSweepInterval,
		browserSessionLifetime: DefaultBrowserSessionLifetime,
		maxLength:              DefaultMaxLength,
		serializer:             GobSerializer{},
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// WithTimeout bounds every database call the store makes, on top of the
// request's own context, so that a stalled server cannot hang a request.
// The default is DefaultTimeout (5 seconds); the most is 24 hours.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > maxTimeout {
			return invalid("timeout %v is not between 0 and %v", d,
				maxTimeout)
		}
		c.timeout = d
		return nil
	}
}

// WithExpiry chooses how expired sessions leave the collection. The default
// is ExpiryNative, which falls back to ExpirySweep on servers without TTL
// indexes.
func WithExpiry(e Expiry) Option {
	return func(c *config) error {
		switch e {
		case ExpiryNative, ExpirySweep, ExpiryDisabled:
			c.expiry = e
			return nil
		}
		return invalid("unknown expiry mode %d", int(e))
	}
}

// WithSweepInterval sets how often the sweeper deletes expired sessions
// when the store sweeps, at least every 10 milliseconds. Each wait is
// jittered by up to a quarter of the interval either way. The default is
// DefaultSweepInterval (1 minute).
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < minSweepInterval {
			return invalid("sweep interval %v is under %v", d,
				minSweepInterval)
		}
		c.sweepInterval = d
		return nil
	}
}

// WithBrowserSessionLifetime sets how long the document of a session whose
// Options.MaxAge is 0 lives after its last Save. Such a session's cookie
// has no expiry and lasts until the browser drops it, which browsers that
// restore sessions may never do, so the server keeps its own limit. The
// default is DefaultBrowserSessionLifetime (24 hours).
func WithBrowserSessionLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return invalid("browser session lifetime %v is "+
				"under a second", d)
		}
		c.browserSessionLifetime = d
		return nil
	}
}

// WithMaxLength sets the largest serialized size of a session's values, in
// bytes. Save of a larger session fails with ErrTooLarge and writes
// nothing. The default is DefaultMaxLength (1 MiB); the most is 15 MiB,
// which keeps a document under MongoDB's 16 MiB limit.
func WithMaxLength(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > maxMaxLength {
			return invalid("max length %d is not between 1 and %d",
				n, maxMaxLength)
		}
		c.maxLength = n
		return nil
	}
}

// WithSerializer sets how session values are encoded. The default is
// GobSerializer.
func WithSerializer(s Serializer) Option {
	return func(c *config) error {
		if s == nil {
			return invalid("serializer is nil")
		}
		c.serializer = s
		return nil
	}
}

// WithLogger gives the store a logger for what happens outside any
// request: the fallback to sweeping, and sweeps that fail. The store logs
// nothing without one, and never logs from the request path.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithSaveEmpty makes Save write new sessions that hold no values. By
// default they are neither written nor given a cookie, so that clients
// which never send cookies back (crawlers, health checks) do not fill the
// collection with empty documents.
func WithSaveEmpty(save bool) Option {
	return func(c *config) error {
		c.saveEmpty = save
		return nil
	}
}

// WithTouchInterval lets Save skip writing a session whose values are
// unchanged since it was loaded, as long as its expiry would move by less
// than d (and by less than half its remaining lifetime). Once due, only
// the expiry is written, never the data. Apps that call Save on every
// request to keep sessions alive then write about once per d per user.
// The default, 0, moves the expiry on every Save.
func WithTouchInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("touch interval %v is negative", d)
		}
		c.touchInterval = d
		return nil
	}
}

// WithAbsoluteTimeout ends every session d after its first Save, however
// active it is: the document and cookie never expire later than that, and
// a session past it loads as a new one, like an expired one. It goes with
// the idle timeout that MaxAge gives. The default, 0, sets no limit.
func WithAbsoluteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d != 0 && d < time.Second {
			return invalid("absolute timeout %v is under a second", d)
		}
		c.absoluteTimeout = d
		return nil
	}
}

// WithOptimisticConcurrency makes Save fail with ErrConflict, writing
// nothing, when another request changed the session since it was loaded,
// so that the app can load it again and redo its change. By default the
// last Save wins, as with every other gorilla store.
func WithOptimisticConcurrency(on bool) Option {
	return func(c *config) error {
		c.optimistic = on
		return nil
	}
}

// WithEncryption encrypts each session's data at rest with AES-256-GCM,
// under a random nonce for every write. Each key is 32 bytes. The first
// key encrypts; every key decrypts, so that keys can be rotated: put the
// new key first, keep the old ones until the sessions written under them
// have expired. Only the data field is encrypted; the ID, the times and
// the owner stay readable.
//
// A session that cannot be decrypted (written before encryption was
// turned on, or under a key no longer listed) loads as a new session with
// an error wrapping ErrDecrypt and ErrDecode, and is not overwritten.
func WithEncryption(keys ...[]byte) Option {
	return func(c *config) error {
		s, err := newSealer(keys)
		if err != nil {
			return invalid("%v", err)
		}
		c.cipher = s
		return nil
	}
}

// WithOwner records who a session belongs to, so that all of someone's
// sessions can be found and ended at once (see DeleteOwner), say after a
// password change. On every write of the session's data, the value under
// valueKey in session.Values (a string or an integer, such as a user ID)
// is copied to the document's owner field, which gets an index; a session
// without it has no owner.
func WithOwner(valueKey string) Option {
	return func(c *config) error {
		if valueKey == "" {
			return invalid("owner value key is empty")
		}
		c.ownerKey = valueKey
		return nil
	}
}

// WithWriteConcern sets the write concern of the store's writes. The
// default is the collection's own. With a replica set, majority makes a
// login survive a failover; the store always reads from the primary.
func WithWriteConcern(wc *writeconcern.WriteConcern) Option {
	return func(c *config) error {
		if wc == nil {
			return invalid("write concern is nil")
		}
		// An unacknowledged update reports no match, which Save would
		// take for a deleted session.
		if !wc.Acknowledged() {
			return invalid("write concern is unacknowledged")
		}
		c.writeConcern = wc
		return nil
	}
}
