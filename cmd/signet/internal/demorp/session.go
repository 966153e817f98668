package demorp

import (
	"container/list"
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"
)

const (
	// cookieName names the session cookie. Cookies are not isolated by port, so
	// the name must differ from every cookie the issuer sets on the same host.
	cookieName = "signet_demo_session"
	// maxSessions bounds the in-memory sessions; the least recently used goes first.
	maxSessions = 1000
	// sessionIdle is how long an unused session lives.
	sessionIdle = 8 * time.Hour
	// maxPending bounds the sign-ins in flight per browser (one per open tab).
	maxPending = 4
	// pendingTTL is how long a started sign-in may take to come back.
	pendingTTL = 10 * time.Minute
)

// session is one browser's state. mu is held by a handler for the whole of its
// work on the session, including requests to the issuer, so that two refreshes
// from one browser never race with the same refresh token.
type session struct {
	mu       sync.Mutex
	csrf     string        // per-session token carried by the POST forms
	pending  []pendingAuth // sign-ins started and not yet come back, oldest first
	signedIn *signedIn     // nil until a sign-in succeeds
	notice   string        // shown once on the next page
	// logout is the RP-initiated logout this browser started, whose state the
	// issuer sends back to the home page; zero when none.
	logout pendingLogout
	// endedByIssuer is when a back-channel logout ended this browser's
	// sign-in; zero when it did not. The home page says so until the next
	// sign-in.
	endedByIssuer time.Time

	// Guarded by the store's mutex.
	id       string
	lastUsed time.Time
}

// pendingAuth is a started sign-in: what the callback must match and the PKCE
// verifier it must send.
type pendingAuth struct {
	state    string
	nonce    string
	verifier string
	started  time.Time
}

// pendingLogout is an RP-initiated logout sent to the issuer.
type pendingLogout struct {
	state   string
	started time.Time
}

// startLogout records a new logout state and returns it.
func (s *session) startLogout(now time.Time) string {
	s.logout = pendingLogout{state: rand.Text(), started: now}
	return s.logout.state
}

// takeLogout reports whether state is that of the live pending logout, and
// if so consumes it: a state is good for one return.
func (s *session) takeLogout(state string, now time.Time) bool {
	l := s.logout
	if l.state == "" || state == "" || now.Sub(l.started) >= pendingTTL {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(l.state), []byte(state)) != 1 {
		return false
	}
	s.logout = pendingLogout{}
	return true
}

// addPending records p, dropping expired sign-ins and, past maxPending, the oldest.
func (s *session) addPending(p pendingAuth, now time.Time) {
	s.pending = livePending(s.pending, now)
	if len(s.pending) >= maxPending {
		s.pending = s.pending[len(s.pending)-maxPending+1:]
	}
	s.pending = append(s.pending, p)
}

// takePending removes and returns the live sign-in with the given state.
func (s *session) takePending(state string, now time.Time) (pendingAuth, bool) {
	s.pending = livePending(s.pending, now)
	if state == "" {
		return pendingAuth{}, false
	}
	for i, p := range s.pending {
		if subtle.ConstantTimeCompare([]byte(p.state), []byte(state)) == 1 {
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			return p, true
		}
	}
	return pendingAuth{}, false
}

func livePending(ps []pendingAuth, now time.Time) []pendingAuth {
	live := ps[:0:0]
	for _, p := range ps {
		if now.Sub(p.started) < pendingTTL {
			live = append(live, p)
		}
	}
	return live
}

// checkCSRF reports whether the form token matches the session's.
func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// sessionStore maps session ids to sessions, in memory, bounded: past max
// entries the least recently used session is evicted.
type sessionStore struct {
	max  int
	idle time.Duration

	mu   sync.Mutex
	byID map[string]*list.Element // values are *session
	lru  *list.List               // most recently used at the front
}

func newSessionStore(max int, idle time.Duration) *sessionStore {
	return &sessionStore{max: max, idle: idle, byID: make(map[string]*list.Element), lru: list.New()}
}

// get returns the live session with id, or nil.
func (st *sessionStore) get(id string, now time.Time) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byID[id]
	if !ok {
		return nil
	}
	s := e.Value.(*session)
	if now.Sub(s.lastUsed) >= st.idle {
		st.removeLocked(e)
		return nil
	}
	s.lastUsed = now
	st.lru.MoveToFront(e)
	return s
}

// create adds a new session with a fresh id and CSRF token, and returns it
// with its id.
func (st *sessionStore) create(now time.Time) (*session, string) {
	s := &session{csrf: rand.Text(), id: rand.Text(), lastUsed: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.byID[s.id] = st.lru.PushFront(s)
	for st.lru.Len() > st.max {
		st.removeLocked(st.lru.Back())
	}
	return s, s.id
}

// rotate gives s a fresh id, so that an id seen before sign-in is worthless
// after it, and returns the new id. A session already evicted stays evicted.
func (st *sessionStore) rotate(s *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byID[s.id]
	delete(st.byID, s.id)
	s.id = rand.Text()
	if ok {
		st.byID[s.id] = e
	}
	return s.id
}

// delete forgets s.
func (st *sessionStore) delete(s *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.byID[s.id]; ok {
		st.removeLocked(e)
	}
}

// all returns every session in the store, most recently used first. The
// caller locks each session itself: the store's mutex is not held, because
// handlers take it while holding a session's.
func (st *sessionStore) all() []*session {
	st.mu.Lock()
	defer st.mu.Unlock()
	ss := make([]*session, 0, st.lru.Len())
	for e := st.lru.Front(); e != nil; e = e.Next() {
		ss = append(ss, e.Value.(*session))
	}
	return ss
}

func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lru.Len()
}

func (st *sessionStore) removeLocked(e *list.Element) {
	delete(st.byID, e.Value.(*session).id)
	st.lru.Remove(e)
}

// session returns the request's live session, or nil.
func (rp *RP) session(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	return rp.sessions.get(c.Value, rp.now())
}

// sessionOrNew returns the request's live session, creating one (and setting
// its cookie) if there is none.
func (rp *RP) sessionOrNew(w http.ResponseWriter, r *http.Request) *session {
	if s := rp.session(r); s != nil {
		return s
	}
	s, id := rp.sessions.create(rp.now())
	rp.setCookie(w, id)
	return s
}

func (rp *RP) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		Secure:   rp.secureCookie,
		SameSite: http.SameSiteLaxMode,
	})
}

func (rp *RP) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   rp.secureCookie,
		SameSite: http.SameSiteLaxMode,
	})
}
