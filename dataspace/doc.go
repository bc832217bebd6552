// Package dataspace is the agricultural Dataspace (use cases, above L3):
// users and roles, a data dictionary, datasets with licences and prices,
// data formats, projects, purchase requests, search and share links, with
// heavy processing offloaded to cells.
//
// This room is empty; a later issue builds it. It may import L1, L2 and
// client.
package dataspace
