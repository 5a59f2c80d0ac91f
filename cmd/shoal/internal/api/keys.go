package api

import (
	"fmt"
	"net/http"

	"github.com/shoal-dev/shoal/node"
)

func keyResponse(kr *node.KeyResponse) KeyResponse {
	if kr == nil {
		return KeyResponse{}
	}
	return KeyResponse{NumNodes: kr.NumNodes, NumResp: kr.NumResp, NumErr: kr.NumErr,
		Messages: kr.Messages, Keys: kr.Keys, PrimaryKeys: kr.PrimaryKeys}
}

// keyStatus is 200 when every node answered without error, else 500 with
// the per-node messages in the body, so a partial rollout is visible.
func writeKeys(w http.ResponseWriter, kr *node.KeyResponse, err error) {
	body := keyResponse(kr)
	if err != nil || body.NumErr > 0 {
		if body.Messages == nil {
			body.Messages = map[string]string{}
		}
		if err != nil {
			body.Messages["error"] = err.Error()
		}
		writeJSON(w, http.StatusInternalServerError, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	kr, err := s.agent.ListKeys()
	writeKeys(w, kr, err)
}

// keyOp answers POST /v1/keys/{install,use,remove}.
func (s *Server) keyOp(w http.ResponseWriter, r *http.Request) {
	ops := map[string]func(string) (*node.KeyResponse, error){
		"install": s.agent.InstallKey, "use": s.agent.UseKey, "remove": s.agent.RemoveKey,
	}
	op, ok := ops[r.PathValue("op")]
	if !ok {
		writeErr(w, http.StatusNotFound, fmt.Errorf("unknown key operation %q (install, use, remove)", r.PathValue("op")))
		return
	}
	var req KeyRequest
	if !decode(w, r, &req) {
		return
	}
	kr, err := op(req.Key)
	writeKeys(w, kr, err)
}
