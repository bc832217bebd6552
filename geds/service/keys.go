package service

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that give the S3 gateway its keys.
const (
	EnvAccessKey = "CLOUDSKIN_S3_ACCESS_KEY"
	EnvSecretKey = "CLOUDSKIN_S3_SECRET_KEY"
)

// KeysFile is where generated keys are kept under a data directory.
const KeysFile = "s3-keys.json"

// Keys are the S3 gateway's key pair.
type Keys struct {
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
}

// LoadKeys returns the gateway's keys: from $CLOUDSKIN_S3_ACCESS_KEY and
// $CLOUDSKIN_S3_SECRET_KEY when both are set, else from KeysFile in dir,
// generated (and written, mode 0600) the first time. generated says they
// were made now, so the caller can show them once.
func LoadKeys(dir string) (keys Keys, generated bool, err error) {
	access, secret := os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)
	switch {
	case access != "" && secret != "":
		return Keys{AccessKey: access, SecretKey: secret}, false, nil
	case access != "" || secret != "":
		return Keys{}, false, fmt.Errorf("set both %s and %s, or neither", EnvAccessKey, EnvSecretKey)
	}
	path := filepath.Join(dir, KeysFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &keys); err != nil || keys.AccessKey == "" || keys.SecretKey == "" {
			return Keys{}, false, fmt.Errorf("S3 gateway keys in %s are damaged (delete the file to make new ones)", path)
		}
		return keys, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Keys{}, false, err
	}
	keys = Keys{AccessKey: "CS" + rand.Text()[:18], SecretKey: rand.Text() + strings.ToLower(rand.Text()[:14])}
	data, _ = json.Marshal(keys)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, false, err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return Keys{}, false, fmt.Errorf("keeping the S3 gateway keys: %w", err)
	}
	return keys, true, nil
}
