// Package filesource is the rule source of file://, plain-path and
// inline:// repositories: files and directories read from disk (watched
// with fsnotify, debounced, re-read on demand) and base64 documents in the
// config itself.
//
// A directory updated the way Kubernetes ConfigMap volumes and git-sync do
// it (a new folder moved in, a symlink renamed over, the old folder
// removed) is read as one version: every symlink on the way to the
// directory, and its "..data" link, is resolved once per load and every
// file is read from the resolved folder, so a swap between two reads can
// never mix two versions.
package filesource
