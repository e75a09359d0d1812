// Package mongostore is a gorilla/sessions store that keeps sessions in a
// MongoDB collection and lets them expire through a TTL index.
//
// An application built on sessions.CookieStore switches by changing the
// constructor and nothing else:
//
//	store, err := mongostore.New(ctx, client.Database("app").
//		Collection("sessions"), [][]byte{authKey})
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//
//	session, err := store.Get(r, "session")
//	session.Values["user"] = id
//	err = session.Save(r, w)
//
// # Cookies
//
// The cookie holds only the session ID, 32 random bytes signed (and, with
// an encryption key, encrypted) by securecookie under the cookie's name.
// The values stay in the database, so they are not limited to the 4 KB of
// a cookie and a client cannot read or replay them. A session found
// missing or expired on load is never written back under its old ID: the
// next Save starts a new session under a fresh ID.
//
// # Documents
//
// Each session is one document:
//
//	{
//	  _id:      "<43 URL-safe base64 characters>",
//	  data:     BinData(...),   // the values, as the Serializer made them
//	  expires:  ISODate(...),   // when the session ends
//	  modified: ISODate(...),   // last Save
//	  created:  ISODate(...),   // first Save
//	}
//
// The store fetches sessions by _id alone and compares expires with the
// clock itself, so a document that has expired but is not yet deleted is
// never loaded.
//
// # Expiry
//
// By default the store makes a TTL index on expires with
// expireAfterSeconds 0, so the server deletes each document once its
// expires time has passed (MongoDB's TTL monitor runs once a minute).
// Because expires is an absolute time, changing MaxAge never touches the
// index. On servers without TTL indexes, such as FerretDB v1 and Azure
// Cosmos DB, the store falls back to a goroutine that deletes expired
// documents every minute; see Expiry and WithExpiry. Call Close to stop it.
//
// # Writes
//
// Save compares the encoded values with those it loaded: changed values
// are written, unchanged ones only move expires, and with
// WithTouchInterval not even that while the move would be small. A
// session deleted by another request (a logout) is never brought back:
// Save returns ErrSessionGone. WithOptimisticConcurrency refuses, with
// ErrConflict, a Save of a session changed by another request since it
// was loaded. RenewID moves a session to a fresh ID at login.
//
// # More
//
// WithEncryption encrypts the stored values; WithOwner records whose a
// session is, for DeleteOwner ("log out everywhere"); Count, Sessions,
// Delete and Sweep serve administration.
//
// # Errors
//
// Errors start with "mongostore: " and wrap their cause; the exported Err
// values can be matched with errors.Is. The store logs nothing on the
// request path, and nothing at all without WithLogger.
package mongostore
