//! The JSON API described as an OpenAPI 3.0 document, served at `/api/openapi.json`.

use serde_json::{json, Value};

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } })
}

/// The document.
pub fn document() -> Value {
    let unauthorized = error("no or a wrong bearer token");
    let not_found = error("no such file for this user");
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Drip", "version": env!("CARGO_PKG_VERSION"),
                  "description": "ElixirDrip on rotp: encrypted file storage. Log in with POST /api/sessions, then send Authorization: Bearer TOKEN." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "File": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "path": { "type": "string" },
                    "full_path": { "type": "string" }, "size": { "type": "integer" },
                    "uploaded_at": { "type": "integer", "nullable": true, "description": "ms since the epoch; null until the pipeline has stored it" } } },
                "Listed": { "type": "object", "description": "a file as a folder listing shows it", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" },
                    "full_path": { "type": "string" }, "size": { "type": "integer" },
                    "uploaded_at": { "type": "integer", "nullable": true } } },
                "Folder": { "type": "object", "properties": {
                    "name": { "type": "string" }, "files": { "type": "integer" }, "size": { "type": "integer" } } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/users": { "post": { "summary": "sign up", "security": [],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["username", "password", "email"],
                    "properties": { "username": { "type": "string", "minLength": 1, "maxLength": 30 }, "password": { "type": "string", "minLength": 8, "maxLength": 100 }, "email": { "type": "string" } } } } } },
                "responses": { "201": { "description": "signed up" }, "400": error("a field breaks the rules"), "409": error("the username is taken") } } },
            "/api/sessions": {
                "post": { "summary": "log in", "security": [],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["username", "password"],
                        "properties": { "username": { "type": "string" }, "password": { "type": "string" } } } } } },
                    "responses": { "200": { "description": "a bearer token", "content": { "application/json": { "schema": { "type": "object", "properties": { "token": { "type": "string" } } } } } },
                                   "401": error("wrong username or password"), "429": error("too many failed log-ins") } },
                "delete": { "summary": "log out (the token ends)", "responses": { "204": { "description": "logged out" }, "401": unauthorized } } },
            "/api/files": {
                "get": { "summary": "a folder: its files and the folders below it",
                    "parameters": [{ "name": "path", "in": "query", "schema": { "type": "string", "default": "$" } }],
                    "responses": { "200": { "description": "the folder", "content": { "application/json": { "schema": { "type": "object", "properties": {
                        "path": { "type": "string" },
                        "files": { "type": "array", "items": { "$ref": "#/components/schemas/Listed" } },
                        "folders": { "type": "array", "items": { "$ref": "#/components/schemas/Folder" } } } } } } },
                        "400": error("not a path"), "401": unauthorized } },
                "post": { "summary": "upload: the raw bytes as the body, streamed",
                    "parameters": [{ "name": "path", "in": "query", "schema": { "type": "string", "default": "$" } },
                                   { "name": "name", "in": "query", "required": true, "schema": { "type": "string" } }],
                    "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "responses": { "202": { "description": "accepted: the pipeline stores it", "content": { "application/json": { "schema": { "type": "object", "properties": { "id": { "type": "string" } } } } } },
                                   "400": error("a bad path or name"), "401": unauthorized, "409": error("the name is taken in that folder"), "413": error("over the upload limit or the quota") } } },
            "/api/files/{id}": {
                "parameters": [id_param()],
                "get": { "summary": "a file's metadata (its own, or shared with the caller)", "responses": { "200": { "description": "the file", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/File" } } } }, "401": unauthorized, "404": not_found } },
                "patch": { "summary": "rename or move",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": { "name": { "type": "string" }, "path": { "type": "string" } } } } } },
                    "responses": { "200": { "description": "the file as it is now" }, "400": error("a bad path or name"), "401": unauthorized, "404": not_found, "409": error("the name is taken there") } },
                "delete": { "summary": "delete the file and its stored object", "responses": { "204": { "description": "deleted" }, "401": unauthorized, "404": not_found, "409": error("still being stored") } } },
            "/api/files/{id}/content": { "parameters": [id_param()],
                "get": { "summary": "the bytes, decrypted as they stream", "responses": { "200": { "description": "the file", "content": { "application/octet-stream": {} } }, "401": unauthorized, "404": not_found, "409": error("not stored yet") } } },
            "/api/files/{id}/download": { "parameters": [id_param()],
                "post": { "summary": "the two-step download's request: a \"download_ready\" notice with the link follows on the caller's socket", "responses": { "202": { "description": "requested", "content": { "application/json": { "schema": { "type": "object", "properties": { "requested": { "type": "string" }, "link": { "type": "string" } } } } } }, "401": unauthorized, "404": not_found, "409": error("not stored yet") } } },
            "/api/files/{id}/cached": { "parameters": [id_param()],
                "get": { "summary": "the file from its download cache, on any node of the cluster", "responses": { "200": { "description": "the file", "content": { "application/octet-stream": {} } }, "401": unauthorized, "404": not_found, "410": error("the cache (and so the link) has expired: request the download again") } } },
            "/api/files/{id}/shares": { "parameters": [id_param()],
                "post": { "summary": "share with a user (owner only)",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["username"], "properties": { "username": { "type": "string" } } } } } },
                    "responses": { "201": { "description": "shared" }, "400": error("the owner's own name"), "401": unauthorized, "404": error("no such file or user"), "409": error("shared already") } } },
            "/api/files/{id}/shares/{username}": { "parameters": [id_param(), { "name": "username", "in": "path", "required": true, "schema": { "type": "string" } }],
                "delete": { "summary": "revoke a share (owner only)", "responses": { "204": { "description": "revoked" }, "401": unauthorized, "404": error("no such file, user or share") } } },
            "/api/shared": { "get": { "summary": "the files shared with the caller, with their owners", "responses": { "200": { "description": "the files" }, "401": unauthorized } } }
        }
    })
}
