package api

import (
	"encoding/json"
	"fmt"
)

// MemberInfo is what kvd stores as a member's raft context: its name and
// URLs, encoded as JSON so an operator can read it in a WAL dump.
type MemberInfo struct {
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// Encode returns the member context bytes for node.Config.PeerContexts.
func (m MemberInfo) Encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("api: encode member info %+v: %v", m, err)) // plain strings always encode
	}
	return b
}

// bootstrapContext is the raft context of the member in the bootstrap
// configuration: name and peer URLs only, identical on every member.
func (m MemberInfo) bootstrapContext() []byte {
	return MemberInfo{Name: m.Name, PeerURLs: m.PeerURLs}.Encode()
}

// DecodeMemberInfo parses a member context written by Encode.
func DecodeMemberInfo(b []byte) (MemberInfo, error) {
	var m MemberInfo
	if err := json.Unmarshal(b, &m); err != nil {
		return MemberInfo{}, fmt.Errorf("api: decode member context %q: %w", b, err)
	}
	return m, nil
}

// Membership is what a member tells one joining the cluster (etcd's peer
// /members answer): the cluster id, and every member with its id, so the
// joining member finds its own id by its peer URLs.
type Membership struct {
	ClusterID uint64           `json:"clusterID"`
	Members   []MembershipItem `json:"members"`
	// Removed are the ids removed from the cluster: a member that finds
	// itself there stops, as etcd's does on its peers' 410 Gone.
	Removed []uint64 `json:"removed,omitempty"`
}

// MembershipItem is one member in a Membership.
type MembershipItem struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// MembershipJSON is this member's view of the membership, encoded for a
// joining member (transport.Options.Members). Safe for concurrent use.
func (s *Server) MembershipJSON() []byte {
	v := s.view.Load()
	m := Membership{ClusterID: v.header.ClusterId, Removed: v.removed}
	for _, mem := range v.members {
		m.Members = append(m.Members, MembershipItem{ID: mem.ID, Name: mem.Name, PeerURLs: mem.PeerURLs, ClientURLs: mem.ClientURLs, IsLearner: mem.IsLearner})
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("api: encode membership %+v: %v", m, err)) // plain fields always encode
	}
	return b
}

// PeerURLs lists the peer URLs of every member but this one.
func (s *Server) PeerURLs() []string {
	var urls []string
	for _, m := range s.view.Load().members {
		if m.ID != s.cfg.Node.ID {
			urls = append(urls, m.PeerURLs...)
		}
	}
	return urls
}

// DecodeMembership parses what MembershipJSON wrote.
func DecodeMembership(b []byte) (Membership, error) {
	var m Membership
	if err := json.Unmarshal(b, &m); err != nil {
		return Membership{}, fmt.Errorf("api: decode membership %q: %w", b, err)
	}
	if m.ClusterID == 0 || len(m.Members) == 0 {
		return Membership{}, fmt.Errorf("api: membership %q names no cluster or no member", b)
	}
	return m, nil
}
