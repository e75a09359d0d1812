package mongostore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
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

// document is a session as stored in the collection.
type document struct {
	ID       string    `bson:"_id"`
	Data     []byte    `bson:"data"`
	Expires  time.Time `bson:"expires"`
	Modified time.Time `bson:"modified"`
	Created  time.Time `bson:"created"`
	Owner    *string   `bson:"owner,omitempty"`
}

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

	data, oldSeal, err := s.open(id, doc.Data)
	if err != nil {
		return session, fmt.Errorf("%w %q: %w", ErrDecode, name, err)
	}
	values := make(map[any]any)
	if err := s.cfg.serializer.Deserialize(data, values); err != nil {
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

// decodeCookie returns the session ID in a cookie value, and whether a
// codec other than the first decoded it, so that Save re-signs it.
func (s *MongoStore) decodeCookie(name, value string) ([]byte, bool,
	error) {
	var raw []byte
	if len(s.Codecs) > 0 && s.Codecs[0].Decode(name, value, &raw) == nil {
		return raw, false, nil
	}
	err := securecookie.DecodeMulti(name, value, &raw, s.Codecs...)
	return raw, true, err
}

// loaded is what New read for a session, kept so that Save can tell
// whether anything changed.
type loaded struct {
	id       string
	data     []byte
	values   map[any]any // a shallow copy of the values data encodes
	expires  time.Time
	created  time.Time
	modified time.Time
	owner    *string // the document's owner field, if it has one

	// What must be written even if nothing changed: a cookie signed
	// with an older key, data sealed with an older encryption key.
	resign, reseal bool
}

// remember keeps what was loaded for session for as long as the session
// lives, and no longer: the key is a weak pointer, and the entry goes when
// the session is collected. The session itself has no room for it, as
// Values belongs to the app and the registry overwrites the session's
// store.
func (s *MongoStore) remember(session *sessions.Session, l *loaded) {
	key := weak.Make(session)
	s.loads.Store(key, l)
	runtime.AddCleanup(session, func(key weak.Pointer[sessions.Session]) {
		s.loads.Delete(key)
	}, key)
}

// loadedState returns what was loaded for session, or nil if it was not
// loaded by this store under its current ID.
func (s *MongoStore) loadedState(session *sessions.Session) *loaded {
	v, ok := s.loads.Load(weak.Make(session))
	if !ok {
		return nil
	}
	l := v.(*loaded)
	if l.id != session.ID {
		return nil
	}
	return l
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

// checkName refuses session names that cannot be cookie names, before
// anything is written under them.
func checkName(name string) error {
	if name == "" || strings.IndexFunc(name, notTokenRune) >= 0 {
		return fmt.Errorf("%w: %q is not a valid cookie name",
			ErrInvalidName, name)
	}
	return nil
}

// notTokenRune tells which runes cannot be in a cookie name (RFC 9110
// token characters).
func notTokenRune(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// load fetches a live session document, or nil if there is none. It asks
// by _id alone and checks expiry here: that works the same on every
// server, and a lookup by _id is the cheapest query there is.
func (s *MongoStore) load(ctx context.Context, id string) (*document,
	error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()

	raw, err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongostore: load session: %w", err)
	}
	doc, err := decodeDocument(raw)
	if err != nil {
		return nil, err
	}

	now := time.Now()
	if !doc.Expires.After(now) {
		return nil, nil
	}
	if s.cfg.absoluteTimeout > 0 &&
		!doc.Created.Add(s.cfg.absoluteTimeout).After(now) {
		return nil, nil
	}
	return doc, nil
}

// decodeDocument reads a stored session, which something other than this
// store may have written or damaged. Its Data is the payload of the data
// field: binary data, or the bytes of an embedded document.
func decodeDocument(raw bson.Raw) (*document, error) {
	// One pass over the fields, without reflection: this runs on every
	// load.
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	doc := &document{}
	var data bson.RawValue
	for _, e := range elems {
		v := e.Value()
		switch key := e.Key(); key {
		case "_id":
			doc.ID, _ = v.StringValueOK()
		case "data":
			data = v
		case "owner":
			if owner, ok := v.StringValueOK(); ok {
				doc.Owner = &owner
			}
		case "expires", "created", "modified":
			ms, ok := v.DateTimeOK()
			if !ok {
				return nil, fmt.Errorf("%w: the %s field is of BSON type "+
					"%v, not a date", ErrDecode, key, v.Type)
			}
			t := time.UnixMilli(ms).UTC()
			switch key {
			case "expires":
				doc.Expires = t
			case "created":
				doc.Created = t
			default:
				doc.Modified = t
			}
		}
	}
	if doc.Expires.IsZero() {
		return nil, fmt.Errorf("%w: the document has no expires field",
			ErrDecode)
	}

	switch data.Type {
	case bson.TypeBinary:
		// Binary, unlike BinaryOK, panics on a malformed value.
		_, payload, ok := data.BinaryOK()
		if !ok {
			return nil, fmt.Errorf("%w: the data field is malformed",
				ErrDecode)
		}
		doc.Data = payload
	case bson.TypeEmbeddedDocument:
		doc.Data = data.Value
	case 0:
		return nil, fmt.Errorf("%w: the document has no data field",
			ErrDecode)
	default:
		return nil, fmt.Errorf("%w: the data field is of BSON type %v, "+
			"not binary or a document", ErrDecode, data.Type)
	}
	return doc, nil
}

// dataValue is what the data field holds for a session's encoded values:
// sealed, if the store encrypts; an embedded document, for serializers
// that make one; else binary data.
func (s *MongoStore) dataValue(id string, data []byte) (bson.RawValue,
	error) {
	if s.cfg.cipher != nil {
		sealed, err := s.cfg.cipher.seal(id, data)
		if err != nil {
			return bson.RawValue{}, fmt.Errorf("mongostore: encrypt "+
				"session: %w", err)
		}
		data = sealed
	} else if _, ok := s.cfg.serializer.(documentMaker); ok {
		return bson.RawValue{Type: bson.TypeEmbeddedDocument,
			Value: data}, nil
	}
	return bson.RawValue{Type: bson.TypeBinary,
		Value: bsoncore.AppendBinary(nil, bson.TypeBinaryGeneric, data)}, nil
}

// A documentMaker is a Serializer whose output is a BSON document, kept as
// an embedded document so that people can read and query it.
type documentMaker interface {
	Serializer
	makesDocument()
}

// open returns the encoded values from a stored data payload, decrypting
// it if the store encrypts, and whether it was sealed with an older key.
func (s *MongoStore) open(id string, payload []byte) ([]byte, bool,
	error) {
	if s.cfg.cipher == nil {
		return payload, false, nil
	}
	return s.cfg.cipher.open(id, payload)
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

	id, changed := session.ID, differ || s.changed(from, data, session.Values)
	if id == "" {
		id = newID()
	}
	var set bson.D
	var unset []string
	var owner *string
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
		if owner = s.owner(session.Values); owner != nil {
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

// changed tells whether a session's data must be written: it is new, its
// values differ from those loaded, its owner field is out of date (say,
// WithOwner was turned on since), or it is sealed with an older key.
func (s *MongoStore) changed(from *loaded, data []byte,
	values map[any]any) bool {
	if from == nil || from.reseal {
		return true
	}
	if s.cfg.ownerKey != "" {
		owner := s.owner(values)
		if (owner == nil) != (from.owner == nil) ||
			owner != nil && *owner != *from.owner {
			return true
		}
	}
	if bytes.Equal(data, from.data) {
		return false
	}
	// Equal values may encode differently (gob writes maps in Go's
	// random order), and writing them back would undo another request's
	// change: compare the values themselves.
	was := make(map[any]any, len(values))
	if err := s.cfg.serializer.Deserialize(from.data, was); err != nil {
		return true
	}
	return !reflect.DeepEqual(was, values)
}

// comparePlain compares values with those loaded, key by key, where it
// can without encoding: same is true if the keys are the same and each
// holds the same string, number or boolean; differ is true if a key was
// added or removed, or holds another plain value than before. Other values
// (slices, maps, structs) may have been changed in place, so they are left
// to the comparison of encodings.
func comparePlain(was, values map[any]any) (same, differ bool) {
	if len(was) != len(values) {
		return false, true
	}
	same = true
	for k, v := range values {
		old, ok := was[k]
		switch {
		case !ok:
			return false, true
		case !plain(v) || !plain(old):
			same = false
		case old != v:
			return false, true
		}
	}
	return same, false
}

func plain(v any) bool {
	switch v.(type) {
	case string, bool, int, int8, int16, int32, int64, uint, uint8,
		uint16, uint32, uint64, float32, float64:
		return true
	}
	return false
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

// touchDue tells whether an unchanged session's expiry must be written:
// when it would move by the touch interval or more, by half the session's
// remaining lifetime or more (so a short session cannot lapse while in
// use), or backwards.
func (s *MongoStore) touchDue(stored, expires, now time.Time) bool {
	move := expires.Sub(stored)
	return move < 0 || move >= min(s.cfg.touchInterval, expires.Sub(now)/2)
}

func (s *MongoStore) setCookie(w http.ResponseWriter, name, id string,
	opts *sessions.Options, expires, now time.Time) error {
	encoded, err := securecookie.EncodeMulti(name, []byte(id), s.Codecs...)
	if err != nil {
		return fmt.Errorf("mongostore: encode cookie %q: %w", name, err)
	}
	cookieOpts := *opts
	if opts.MaxAge > 0 {
		// The absolute timeout may end the session sooner than MaxAge.
		left := expires.Sub(now) + time.Second - 1
		cookieOpts.MaxAge = max(1, int(left/time.Second))
	}
	cookie := sessions.NewCookie(name, encoded, &cookieOpts)
	if opts.MaxAge > 0 {
		cookie.Expires = expires
	}
	setCookie(w, cookie)
	return nil
}

// setCookie sets c in place of any cookie of the same name set earlier in
// the response, so that saving twice in a request sends one cookie.
func setCookie(w http.ResponseWriter, c *http.Cookie) {
	h := w.Header()
	prefix := c.Name + "="
	h["Set-Cookie"] = slices.DeleteFunc(h["Set-Cookie"], func(v string) bool {
		return strings.HasPrefix(v, prefix)
	})
	http.SetCookie(w, c)
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

func (s *MongoStore) insert(ctx context.Context, doc bson.D) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("mongostore: insert session: %w", err)
	}
	return nil
}

// update sets fields of a session that must still exist; without an
// upsert, a document deleted meanwhile stays deleted. With optimistic
// concurrency it also requires the version that was loaded.
func (s *MongoStore) update(ctx context.Context, id string, from *loaded,
	set bson.D, unset ...string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}}
	checked := s.cfg.optimistic && from != nil
	if checked {
		filter = append(filter, bson.E{Key: "modified", Value: from.modified})
	}
	change := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		fields := bson.D{}
		for _, f := range unset {
			fields = append(fields, bson.E{Key: f, Value: ""})
		}
		change = append(change, bson.E{Key: "$unset", Value: fields})
	}

	res, err := s.coll.UpdateOne(ctx, filter, change)
	if err != nil {
		return fmt.Errorf("mongostore: update session: %w", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	if !checked {
		return ErrSessionGone
	}

	// The version did not match: changed, or deleted meanwhile.
	n, err := s.coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
	switch {
	case err != nil:
		return fmt.Errorf("mongostore: update session: %w", err)
	case n == 0:
		return ErrSessionGone
	}
	return ErrConflict
}

func (s *MongoStore) delete(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	_, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongostore: delete session: %w", err)
	}
	return nil
}

func (s *MongoStore) logger() *slog.Logger {
	if s.cfg.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.cfg.logger
}

// expired returns a copy of opts for a cookie that the browser drops now.
func expired(opts *sessions.Options) *sessions.Options {
	o := *opts
	o.MaxAge = -1
	return &o
}

const idBytes = 32

var idLength = base64.RawURLEncoding.EncodedLen(idBytes)

// newID returns a session ID of 32 random bytes. crypto/rand.Read does not
// fail on the platforms Go supports.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID tells whether id has the shape newID gives, so that IDs the
// store never minted (from another store sharing the keys, say) cause no
// database call.
func validID(id string) bool {
	if len(id) != idLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
			'0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
