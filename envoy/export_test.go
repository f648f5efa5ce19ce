package envoy

import "github.com/portcullis-authz/portcullis/pipeline"

// FastRequest runs fastRequest alone, for the differential tests, which
// check that the requests they expect to take it do.
func FastRequest(wire []byte) (*pipeline.Request, bool) {
	r := &pipeline.Request{}
	if !fastRequest(wire, r, nil) {
		return nil, false
	}
	return r, true
}
