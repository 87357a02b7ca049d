package main

import "golang.org/x/crypto/bcrypt"

// DemoUsers are the demo accounts and their passwords; the app keeps only
// the bcrypt hashes below. main prints these at startup.
var DemoUsers = []struct{ Name, Password string }{
	{"alice", "wonderland-2fa"},
	{"bob", "builder-2fa"},
}

// demoHashes are bcrypt hashes (cost 10) of DemoUsers' passwords, as a user
// database would hold them.
var demoHashes = map[string][]byte{
	"alice": []byte("$2a$10$QPQ/yftp18dt3l0hs.5aX.SH8NAzoYGCaXBu.SGZaEufjG1w2Bp8W"),
	"bob":   []byte("$2a$10$ru3ixZLxCKICh2MWKXZtl.O/dr6B1GmMlXBtfeq48XQMmU2VZLmRW"),
}

// dummyHash is compared against when the user does not exist, so that an
// unknown name takes as long as a wrong password and the timing does not
// tell which names exist.
var dummyHash = []byte("$2a$10$AG.b0XUmGAXHYKHMxTfD9u5hvWq3pHId7VLPVmAMvTPYGiCKqbv.a")

// checkPassword reports whether password is user's.
func checkPassword(users map[string][]byte, user, password string) bool {
	hash, ok := users[user]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}
