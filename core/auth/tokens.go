package auth

import (
	"container/list"
	"fmt"
)

// tokens are the simple tokens a member handed out (etcd's --auth-token
// simple): user by token, each living TokenTTLTicks from its last use, at
// most TokensMax (the least recently used goes first).
type tokens struct {
	ttlTicks uint64
	max      int
	now      uint64
	byToken  map[string]*list.Element
	// lru orders tokens by last use, oldest first.
	lru *list.List
}

type tokenEntry struct {
	token, user string
	usedTick    uint64
}

func newTokens(o Options) tokens {
	return tokens{ttlTicks: o.TokenTTLTicks, max: o.TokensMax, byToken: map[string]*list.Element{}, lru: list.New()}
}

func (t *tokens) assign(token, user string) {
	if _, dup := t.byToken[token]; dup {
		// Tokens are named by raft index: one index, one token.
		panic(fmt.Sprintf("auth: simple token assigned twice (user %q)", user))
	}
	for t.lru.Len() >= t.max {
		t.remove(t.lru.Front())
	}
	t.byToken[token] = t.lru.PushBack(&tokenEntry{token: token, user: user, usedTick: t.now})
}

func (t *tokens) use(token string, nowTick uint64) (string, bool) {
	el, ok := t.byToken[token]
	if !ok {
		return "", false
	}
	e := el.Value.(*tokenEntry)
	if nowTick-e.usedTick > t.ttlTicks {
		t.remove(el)
		return "", false
	}
	e.usedTick = nowTick
	t.lru.MoveToBack(el)
	return e.user, true
}

func (t *tokens) expire(nowTick uint64) {
	t.now = nowTick
	for el := t.lru.Front(); el != nil; el = t.lru.Front() {
		if nowTick-el.Value.(*tokenEntry).usedTick <= t.ttlTicks {
			return
		}
		t.remove(el)
	}
}

func (t *tokens) invalidateUser(user string) {
	for el := t.lru.Front(); el != nil; {
		next := el.Next()
		if el.Value.(*tokenEntry).user == user {
			t.remove(el)
		}
		el = next
	}
}

func (t *tokens) clear() {
	clear(t.byToken)
	t.lru.Init()
}

func (t *tokens) remove(el *list.Element) {
	delete(t.byToken, el.Value.(*tokenEntry).token)
	t.lru.Remove(el)
}
