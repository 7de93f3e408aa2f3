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
