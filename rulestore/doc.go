// Package rulestore turns configuration and rule files into the compiled
// rule snapshot the front doors read. It owns the service config (koanf:
// file plus PORTCULLIS_ environment overrides, in Oathkeeper's shape), the
// rule decoding with precise errors, the rule sources (watched files and
// directories), and the compile-then-publish Store whose Current snapshot
// is swapped atomically.
//
// rulestore imports pipeline, never authz or a handler package: handlers
// reach it only through the pipeline.Registry it is given.
package rulestore
