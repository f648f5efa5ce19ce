// Package rulestore turns rule documents into the compiled rule snapshot
// the front doors read: rule decoding with precise errors, the Source
// contract every rule source implements (files: filesource; http(s):
// httpsource; xDS: xds), Combine for several sources, and the
// compile-then-publish Store whose Current snapshot is swapped
// atomically, the last good one kept.
//
// rulestore imports pipeline, never authz or a handler package: handlers
// reach it only through the pipeline.Registry it is given. The service
// config is cmd/portcullis/config's.
package rulestore
