package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Errors that callers can tell apart with errors.Is. Every error the store
// returns starts with "mongostore: " and wraps its cause.
var (
	// ErrInvalidOption is wrapped by New's errors for bad arguments, and
	// by Save's for a session MaxAge of over a hundred years.
	ErrInvalidOption = errors.New("mongostore: invalid option")

	// ErrInvalidName is wrapped by Get, New and Save for a session name
	// that cannot be a cookie name. Get and New still return a session.
	ErrInvalidName = errors.New("mongostore: invalid session name")

	// ErrInvalidCookie is wrapped by Get and New when the request carries
	// a session cookie that does not decode: tampered, signed with an
	// unknown key, made for another cookie name, or too old. The error
	// wraps the securecookie error too.
	ErrInvalidCookie = errors.New("mongostore: invalid session cookie")

	// ErrEncode is wrapped by Save when the serializer cannot encode the
	// session's values. Nothing is written.
	ErrEncode = errors.New("mongostore: cannot encode session values")

	// ErrDecode is wrapped by Get and New when a stored session's data
	// cannot be decoded. The document is left as it is.
	ErrDecode = errors.New("mongostore: cannot decode stored session")

	// ErrTooLarge is wrapped by Save when the encoded values exceed the
	// maximum length. Nothing is written and the stored session is kept.
	ErrTooLarge = errors.New("mongostore: session too large")

	// ErrSessionGone is wrapped by Save when the session's document no
	// longer exists, because it expired or was deleted by another request.
	// The store does not bring it back: the cookie is cleared instead.
	ErrSessionGone = errors.New("mongostore: session no longer exists")

	// ErrConflict is wrapped by Save, with WithOptimisticConcurrency, when
	// another request changed the session since it was loaded. Nothing is
	// written; load the session again and redo the change.
	ErrConflict = errors.New("mongostore: session changed by another " +
		"request")
)

// MongoStore is a sessions.Store that keeps each session in a document of a
// MongoDB collection and gives the client a cookie holding only the signed
// session ID.
//
// Codecs and Options play the same part as in sessions.CookieStore and may
// be changed before the store serves requests.
type MongoStore struct {
	Codecs  []securecookie.Codec
	Options *sessions.Options // defaults copied into each new session

	coll    *mongo.Collection
	cfg     config
	expiry  Expiry
	sweeper *sweeper
	close   sync.Once
	loads   sync.Map // weak.Pointer[sessions.Session] to *loaded
}

var _ sessions.Store = (*MongoStore)(nil)

// New returns a store that keeps sessions in coll.
//
// keyPairs are the keys that sessions.NewCookieStore takes, and sign the
// session ID in the cookie the same way: in each pair the first key
// authenticates (32 or 64 bytes are recommended) and the optional second
// encrypts (16, 24 or 32 bytes select AES-128, AES-192 or AES-256). Cookies
// are always made with the first pair; the others let cookies signed with
// older keys still load during a key rotation.
//
// The cookie defaults are Path "/", MaxAge 30 days, HttpOnly, Secure and
// SameSite Lax. New prepares the collection for the expiry mode (see
// WithExpiry) within ctx and the store's timeout; it starts the sweeper if
// the store sweeps. Call Close to stop it.
//
// New fails with an error wrapping ErrInvalidOption for bad arguments, and
// with the server's error if the index cannot be made. It never
// disconnects the client, which stays the caller's.
func New(ctx context.Context, coll *mongo.Collection, keyPairs [][]byte,
	opts ...Option) (*MongoStore, error) {
	if ctx == nil {
		return nil, invalid("context is nil")
	}
	if coll == nil || coll.Database() == nil {
		return nil, invalid("collection is nil or was not made by a " +
			"client's Database")
	}
	if err := checkKeyPairs(keyPairs); err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}

	s := &MongoStore{
		Codecs: securecookie.CodecsFromPairs(keyPairs...),
		Options: func() *sessions.Options {
			o := defaultOptions()
			return &o
		}(),
		coll: coll.Clone(collectionOptions(cfg)),
		cfg:  cfg,
	}
	s.MaxAge(s.Options.MaxAge)
	for _, c := range s.Codecs {
		// The cookie holds the ID's bytes as they are: gob would only
		// wrap them, and costs more to decode than the rest of a load.
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(securecookie.NopEncoder{})
		}
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	expiry, err := s.ensureExpiry(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.ensureOwnerIndex(ctx); err != nil {
		return nil, err
	}
	s.expiry = expiry
	if expiry == ExpirySweep {
		s.sweeper = s.startSweeper()
	}
	return s, nil
}

func collectionOptions(cfg config) *options.CollectionOptionsBuilder {
	// A session read from a secondary may be stale: a logout or a login
	// just written to the primary would not be seen.
	opts := options.Collection().SetReadPreference(readpref.Primary())
	if cfg.writeConcern != nil {
		opts.SetWriteConcern(cfg.writeConcern)
	}
	return opts
}

// checkKeyPairs catches what securecookie would only report at the first
// request.
func checkKeyPairs(keyPairs [][]byte) error {
	if len(keyPairs) == 0 {
		return invalid("no key pairs: at least an authentication key " +
			"is needed to sign session cookies")
	}
	for i := 0; i < len(keyPairs); i += 2 {
		if len(keyPairs[i]) == 0 {
			return invalid("authentication key %d is empty", i/2)
		}
		if i+1 == len(keyPairs) {
			break
		}
		switch n := len(keyPairs[i+1]); n {
		case 0, 16, 24, 32:
		default:
			return invalid("encryption key %d is %d bytes, "+
				"not 16, 24 or 32", i/2, n)
		}
	}
	return nil
}

// Expiry returns the expiry mode in force: the configured one, or
// ExpirySweep where the server turned down a TTL index.
func (s *MongoStore) Expiry() Expiry {
	return s.expiry
}

// Close stops the sweeper, waiting for a sweep in flight to end. It does
// not disconnect the client. Close may be called more than once; the store
// still serves requests after it, without sweeping.
func (s *MongoStore) Close() error {
	s.close.Do(func() {
		if s.sweeper != nil {
			s.sweeper.stop()
		}
	})
	return nil
}

// MaxAge sets the default MaxAge of new sessions and the age past which the
// codecs reject a cookie. A session can be deleted by setting its own
// Options.MaxAge to -1 and saving it.
func (s *MongoStore) MaxAge(age int) {
	if s.Options == nil {
		defaults := defaultOptions()
		s.Options = &defaults
	}
	s.Options.MaxAge = age
	for _, c := range s.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(age)
		}
	}
}

// Get returns the named session for the request, loading it once per
// request through the sessions registry. See New for what it returns.
func (s *MongoStore) Get(r *http.Request, name string) (*sessions.Session,
	error) {
	// The registry would return a nil session for a bad name.
	if err := checkName(name); err != nil {
		return s.newSession(name), err
	}
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the named session without the registry. It never returns a nil
// session:
//
//   - with no cookie, it returns a new session and makes no database call;
//   - with a cookie that does not decode, a new session and an error
//     wrapping ErrInvalidCookie;
//   - when the session's document is missing or its expires time has
//     passed, a new session and no error; the old ID is dropped, so the
//     next Save starts a session under a fresh ID;
//   - when the database fails, a new session and an error wrapping the
//     cause, never a quiet "not found";
//   - otherwise the stored session, with IsNew false.
func (s *MongoStore) New(r *http.Request, name string) (*sessions.Session,
	error) {
	session := s.newSession(name)
	if err := checkName(name); err != nil {
		return session, err
	}

	c, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	raw, oldKey, err := s.decodeCookie(name, c.Value)
	if err != nil {
		return session, fmt.Errorf("%w %q: %w", ErrInvalidCookie, name, err)
	}
	id := string(raw)
	if !validID(id) {
		return session, nil
	}

	doc, err := s.load(r.Context(), id)
	if err != nil || doc == nil {
		return session, err
	}

	values, data, oldSeal, err := s.values(id, doc.Data)
	if err != nil {
		return session, fmt.Errorf("%w %q: %w", ErrDecode, name, err)
	}
	session.ID = id
	session.Values = values
	session.IsNew = false
	s.remember(session, &loaded{id: id, data: data,
		values:  maps.Clone(values),
		expires: doc.Expires, created: doc.Created, modified: doc.Modified,
		owner: doc.Owner, resign: oldKey, reseal: oldSeal})
	return session, nil
}

func (s *MongoStore) newSession(name string) *sessions.Session {
	session := sessions.NewSession(s, name)
	opts := defaultOptions()
	if s.Options != nil {
		opts = *s.Options
	}
	session.Options = &opts
	session.IsNew = true
	return session
}

func defaultOptions() sessions.Options {
	return sessions.Options{
		Path:     "/",
		MaxAge:   86400 * 30,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	}
}

// Save writes the session and sets its cookie.
//
// With Options.MaxAge < 0 it deletes the document (one already gone is
// fine) and sets a cookie that expires at once. With MaxAge > 0 the
// document expires MaxAge seconds from now and so does the cookie. With
// MaxAge == 0 the cookie lasts as long as the browser keeps it, while the
// document expires after the browser session lifetime (see
// WithBrowserSessionLifetime). An absolute timeout (see
// WithAbsoluteTimeout) caps both.
//
// A session whose values are unchanged since it was loaded has only its
// expiry moved, and not even that while the move would be shorter than the
// touch interval (see WithTouchInterval): then nothing is written and no
// cookie is sent, as the browser's cookie still matches the document.
//
// A new session without values is not written and gets no cookie, unless
// WithSaveEmpty is given. A new session is written under a fresh random ID;
// an existing one is updated in place and never recreated: if its document
// is gone, Save returns an error wrapping ErrSessionGone and clears the
// cookie. Encoding errors wrap ErrEncode or ErrTooLarge and write nothing.
func (s *MongoStore) Save(r *http.Request, w http.ResponseWriter,
	session *sessions.Session) error {
	name := session.Name()
	opts, err := s.optionsOf(session)
	if err != nil {
		return err
	}

	if opts.MaxAge < 0 {
		if err := s.delete(r.Context(), session.ID); err != nil {
			return err
		}
		session.ID = ""
		setCookie(w, sessions.NewCookie(name, "", opts))
		return nil
	}
	if session.ID == "" && len(session.Values) == 0 && !s.cfg.saveEmpty {
		return nil
	}

	// Values the same as loaded, plain ones compared one by one, need no
	// encoding to tell, and their encoding is the one loaded.
	from := s.loadedState(session)
	var data []byte
	same, differ := false, true
	if from != nil {
		same, differ = comparePlain(from.values, session.Values)
	}
	if same {
		data = from.data
	} else if data, err = s.encode(name, session.Values); err != nil {
		return err
	}

	// BSON keeps milliseconds; so does everything compared with it.
	now := time.Now().Truncate(time.Millisecond)
	created, modified := now, now
	if from != nil {
		created = from.created
		// Each write's modified differs from the last one's, even in
		// the same millisecond, so that it can tell versions apart.
		if !now.After(from.modified) {
			modified = from.modified.Add(time.Millisecond)
		}
	}
	expires := s.expiresAt(now, created, opts)

	owner := s.owner(session.Values)
	changed := differ || s.changed(from, data, session.Values, owner)
	id := session.ID
	if id == "" {
		id = newID()
	}
	var set bson.D
	var unset []string
	switch {
	case changed:
		stored, err := s.dataValue(id, data)
		if err != nil {
			return err
		}
		set = bson.D{
			{Key: "data", Value: stored},
			{Key: "expires", Value: expires},
			{Key: "modified", Value: modified},
		}
		if owner != nil {
			set = append(set, bson.E{Key: "owner", Value: *owner})
		} else if s.cfg.ownerKey != "" {
			unset = append(unset, "owner")
		}
	case from.resign || s.touchDue(from.expires, expires, now):
		set = bson.D{{Key: "expires", Value: expires}}
	default:
		return nil
	}

	if session.ID == "" {
		err = s.insert(r.Context(), append(bson.D{{Key: "_id", Value: id},
			{Key: "created", Value: now}}, set...))
		if err == nil {
			session.ID = id
			s.remember(session, &loaded{id: id, data: data,
				values: maps.Clone(session.Values), expires: expires,
				created: now, modified: now, owner: owner})
		}
	} else {
		// A touch cannot undo another request's change, so only a write
		// of the data checks the version.
		checked := from
		if !changed {
			checked = nil
		}
		err = s.update(r.Context(), id, checked, set, unset...)
	}
	if errors.Is(err, ErrSessionGone) {
		session.ID = ""
		setCookie(w, sessions.NewCookie(name, "", expired(opts)))
		return err
	}
	if err != nil {
		return err
	}
	if from != nil && session.ID == from.id {
		if changed {
			from.data, from.modified, from.owner = data, modified, owner
			from.values = maps.Clone(session.Values)
			from.reseal = false
		}
		from.expires, from.resign = expires, false
	}
	return s.setCookie(w, name, session.ID, opts, expires, now)
}

// RenewID moves the session to a fresh ID: it deletes the document under
// the old ID, saves the session under a new one and sets the new cookie.
// Call it on login and on every other change of privilege, so that an ID
// that someone planted or saw before is worth nothing afterwards (session
// fixation). The session's values are kept, and its absolute timeout, if
// any, starts again.
//
// If the delete fails, nothing has changed. If the save fails after it,
// the session is left without an ID and a later Save starts it afresh.
func (s *MongoStore) RenewID(r *http.Request, w http.ResponseWriter,
	session *sessions.Session) error {
	if err := s.delete(r.Context(), session.ID); err != nil {
		return err
	}
	session.ID = ""
	return s.Save(r, w, session)
}

// optionsOf returns the options a session is saved with, checked.
func (s *MongoStore) optionsOf(session *sessions.Session) (
	*sessions.Options, error) {
	name := session.Name()
	if err := checkName(name); err != nil {
		return nil, err
	}
	opts := session.Options
	if opts == nil {
		opts = s.Options
	}
	if opts == nil {
		defaults := defaultOptions()
		opts = &defaults
	}
	if opts.MaxAge > maxAge {
		return nil, fmt.Errorf("%w: MaxAge of session %q is %d seconds, "+
			"more than the %d of a hundred years", ErrInvalidOption, name,
			opts.MaxAge, maxAge)
	}
	return opts, nil
}

// expiresAt is when a session saved now ends.
func (s *MongoStore) expiresAt(now, created time.Time,
	opts *sessions.Options) time.Time {
	lifetime := s.cfg.browserSessionLifetime
	if opts.MaxAge > 0 {
		lifetime = time.Duration(opts.MaxAge) * time.Second
	}
	expires := now.Add(lifetime)
	if s.cfg.absoluteTimeout > 0 {
		if end := created.Add(s.cfg.absoluteTimeout); end.Before(expires) {
			expires = end
		}
	}
	return expires
}

// maxAge bounds MaxAge, in seconds, well below where a time.Duration
// overflows.
const maxAge = 100 * 365 * 24 * 3600

func (s *MongoStore) encode(name string, values map[any]any) ([]byte,
	error) {
	data, err := s.cfg.serializer.Serialize(values)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrEncode, name, err)
	}
	if len(data) > s.cfg.maxLength {
		return nil, fmt.Errorf("%w: session %q encodes to %d bytes, "+
			"more than the limit of %d", ErrTooLarge, name, len(data),
			s.cfg.maxLength)
	}
	return data, nil
}

func (s *MongoStore) logger() *slog.Logger {
	if s.cfg.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.cfg.logger
}
