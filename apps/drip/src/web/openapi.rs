//! The JSON API described as an OpenAPI 3.0 document, served at `/api/openapi.json`: every
//! status code each operation answers, the rules every field must follow (the same regular
//! expressions the server checks: [`crate::accounts::USERNAME`], [`crate::paths::PATH`], …),
//! bearer auth on every operation but signing up and logging in, and links from what an
//! operation makes to the operations on it. `schemathesis` checks Drip against it in `./test`.

use serde_json::{json, Value};

use crate::{accounts, paths};

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

fn path_schema() -> Value {
    json!({ "type": "string", "pattern": paths::PATH, "maxLength": paths::MAX_PATH })
}

fn name_schema() -> Value {
    json!({ "type": "string", "pattern": paths::NAME, "minLength": 1, "maxLength": paths::MAX_NAME })
}

/// The operations on a file, by the id an operation answered with at `pointer`. Sharing is
/// left out: it needs another user's name, which no earlier answer gives, and its 404 for an
/// unknown user would read as the file being gone.
fn file_links(pointer: &str) -> Value {
    let id = json!({ "id": format!("$response.body#{pointer}") });
    json!({
        "GetFile": { "operationId": "getFile", "parameters": id },
        "ChangeFile": { "operationId": "changeFile", "parameters": id },
        "DeleteFile": { "operationId": "deleteFile", "parameters": id },
        "GetContent": { "operationId": "getContent", "parameters": id },
        "RequestDownload": { "operationId": "requestDownload", "parameters": id },
        "GetCached": { "operationId": "getCached", "parameters": id },
    })
}

/// The document.
pub fn document() -> Value {
    let unauthorized = error("no bearer token, or one that is wrong, revoked or expired");
    let not_found = error("no such file for this user");
    let bad = error("a field breaks its rules, or the body is not the JSON described");
    let not_json = error("the body is not sent as application/json");
    let too_large = error("the JSON body is too large");
    let busy = error("too many passwords are being checked at once: try again in a moment");
    let too_many = json!({
        "description": "too many tries from this address (or at this username): wait as Retry-After says",
        "headers": { "Retry-After": { "description": "seconds to wait", "schema": { "type": "integer" } } },
        "content": { "application/json": { "schema": schema("Error") } }
    });
    let file = ok("the file", schema("File"));
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Drip", "version": env!("CARGO_PKG_VERSION"),
                  "description": "ElixirDrip on rotp: encrypted file storage. Log in with POST /api/sessions, then send Authorization: Bearer TOKEN (good for thirty days, or until DELETE /api/sessions or \"log out everywhere\")." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "File": { "type": "object", "required": ["id", "name", "path", "full_path", "size", "uploaded_at"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "path": { "type": "string" },
                    "full_path": { "type": "string" }, "size": { "type": "integer" },
                    "uploaded_at": { "type": "integer", "nullable": true, "description": "ms since the epoch; null until the pipeline has stored it" } } },
                "Listed": { "type": "object", "description": "a file as a folder listing shows it", "required": ["id", "name", "full_path", "size", "uploaded_at"], "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" },
                    "full_path": { "type": "string" }, "size": { "type": "integer" },
                    "uploaded_at": { "type": "integer", "nullable": true } } },
                "Folder": { "type": "object", "required": ["name", "files", "size"], "properties": {
                    "name": { "type": "string" }, "files": { "type": "integer" }, "size": { "type": "integer" } } },
                "Listing": { "type": "object", "required": ["path", "files", "folders"], "properties": {
                    "path": { "type": "string" },
                    "files": { "type": "array", "items": schema("Listed") },
                    "folders": { "type": "array", "items": schema("Folder") } } },
                "SignUp": { "type": "object", "required": ["username", "password", "email"], "properties": {
                    "username": { "type": "string", "pattern": accounts::USERNAME, "minLength": 1, "maxLength": 30 },
                    "password": { "type": "string", "minLength": *accounts::PASSWORD.start(), "maxLength": *accounts::PASSWORD.end() },
                    "email": { "type": "string", "pattern": accounts::EMAIL, "maxLength": accounts::EMAIL_MAX },
                    "invite": { "type": "string", "nullable": true, "description": "an invite's token, where sign-up needs one (--signup invite or closed)" } } },
                "LogIn": { "type": "object", "required": ["username", "password"], "properties": {
                    "username": { "type": "string" }, "password": { "type": "string" } } },
                "Change": { "type": "object", "description": "what to change; a field left out (or null) stays as it is",
                    "properties": { "name": nullable(name_schema()), "path": nullable(path_schema()) } },
                "ShareWith": { "type": "object", "required": ["username"], "properties": { "username": { "type": "string" } } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/api/users": { "post": { "operationId": "signUp", "summary": "sign up", "security": [],
                "requestBody": body(schema("SignUp")),
                "responses": {
                    "201": { "description": "the new user", "content": { "application/json": { "schema": { "type": "object", "required": ["id", "username"], "properties": { "id": { "type": "string" }, "username": { "type": "string" } } } } },
                             "links": { "LogIn": { "operationId": "logIn", "requestBody": { "username": "$request.body#/username", "password": "$request.body#/password" } } } },
                    "400": bad, "403": error("sign-up needs an invite (or this one is used or expired)"), "409": error("the username is taken"),
                    "413": too_large, "415": not_json, "429": too_many, "503": busy } } },
            "/api/sessions": {
                "post": { "operationId": "logIn", "summary": "log in: a bearer token", "security": [],
                    "requestBody": body(schema("LogIn")),
                    "responses": {
                        "200": ok("the token", json!({ "type": "object", "required": ["token", "expires_at"], "properties": { "token": { "type": "string" }, "expires_at": { "type": "integer", "description": "ms since the epoch" } } })),
                        "400": bad, "401": error("wrong username or password"), "413": too_large, "415": not_json, "429": too_many, "503": busy } },
                "delete": { "operationId": "logOut", "summary": "log out: the token stops working",
                    "responses": { "204": { "description": "logged out" }, "401": unauthorized } } },
            "/api/files": {
                "get": { "operationId": "listFolder", "summary": "a folder: its files and the folders below",
                    "parameters": [{ "name": "path", "in": "query", "schema": path_schema() }],
                    "responses": { "200": ok("the folder", schema("Listing")), "400": error("not a path"), "401": unauthorized } },
                "post": { "operationId": "upload", "summary": "upload: the raw bytes as the body, streamed",
                    "parameters": [{ "name": "path", "in": "query", "schema": path_schema() },
                                   { "name": "name", "in": "query", "required": true, "schema": name_schema() }],
                    "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "responses": {
                        "201": { "description": "stored: its object is written and its row says so (answered only then); the file as getFile shows it",
                                 "headers": { "Location": { "description": "the file's metadata, /api/files/{id}", "schema": { "type": "string" } } },
                                 "content": { "application/json": { "schema": schema("File") } },
                                 "links": file_links("/id") },
                        "400": error("a bad path or name, or the upload broke off"), "401": unauthorized,
                        "409": error("the name is taken in that folder, or the upload was given up meanwhile"),
                        "413": error("over the upload limit or the quota"),
                        "500": error("the upload could not be stored (the sentence says why); nothing of it is kept"),
                        "503": error("the storage or the database failed (nothing of the upload is kept), or it was not stored within the server's wait (it still may be: look before uploading again)"),
                        "507": error("the server's disk is full") } } },
            "/api/files/{id}": {
                "parameters": [id_param()],
                "get": { "operationId": "getFile", "summary": "a file's metadata (its own, or shared with the caller)", "responses": { "200": file, "401": unauthorized, "404": not_found } },
                "patch": { "operationId": "changeFile", "summary": "rename or move (owner only)",
                    "requestBody": body(schema("Change")),
                    "responses": { "200": ok("the file as it is now", schema("File")), "400": bad, "401": unauthorized, "404": not_found, "409": error("the name is taken there"), "413": too_large, "415": not_json } },
                "delete": { "operationId": "deleteFile", "summary": "delete the file and its stored object (owner only)", "responses": { "204": { "description": "deleted" }, "401": unauthorized, "404": not_found, "409": error("still being stored"), "503": error("the storage failed: try again later") } } },
            "/api/files/{id}/content": { "parameters": [id_param()],
                "get": { "operationId": "getContent", "summary": "the bytes, decrypted as they stream", "responses": { "200": { "description": "the file", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } }, "401": unauthorized, "404": not_found, "409": error("not stored yet"), "503": error("the storage failed: try again later") } } },
            "/api/files/{id}/download": { "parameters": [id_param()],
                "post": { "operationId": "requestDownload", "summary": "the two-step download's request: a \"download_ready\" notice with the link follows on the caller's socket", "responses": { "202": ok("requested", json!({ "type": "object", "required": ["requested", "link"], "properties": { "requested": { "type": "string" }, "link": { "type": "string" } } })), "401": unauthorized, "404": not_found, "409": error("not stored yet"), "429": too_many } } },
            "/api/files/{id}/cached": { "parameters": [id_param()],
                "get": { "operationId": "getCached", "summary": "the file from its download cache, on any node of the cluster", "responses": { "200": { "description": "the file", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } }, "401": unauthorized, "404": not_found, "410": error("the cache (and so the link) has expired: request the download again"), "503": error("the storage failed: try again later") } } },
            "/api/files/{id}/shares": { "parameters": [id_param()],
                "post": { "operationId": "shareFile", "summary": "share with a user (owner only)",
                    "requestBody": body(schema("ShareWith")),
                    "responses": { "201": { "description": "shared" }, "400": error("the owner's own name, or a body that is not the JSON described"), "401": unauthorized, "404": not_found, "409": error("shared already"), "413": too_large, "415": not_json, "422": error("no such user") } } },
            "/api/files/{id}/shares/{username}": { "parameters": [id_param(), { "name": "username", "in": "path", "required": true, "schema": { "type": "string" } }],
                "delete": { "operationId": "unshareFile", "summary": "revoke a share (owner only)", "responses": { "204": { "description": "revoked" }, "401": unauthorized, "404": error("no such file, user or share") } } },
            "/api/shared": { "get": { "operationId": "sharedWithMe", "summary": "the files shared with the caller, with their owners",
                "responses": { "200": ok("the files", json!({ "type": "object", "required": ["files"], "properties": { "files": { "type": "array", "items": { "type": "object", "required": ["file", "owner"], "properties": { "file": schema("File"), "owner": { "type": "string" } } } } } })), "401": unauthorized } } },
            "/api/openapi.json": { "get": { "operationId": "openApi", "summary": "this document", "security": [],
                "responses": { "200": ok("the OpenAPI document", json!({ "type": "object" })) } } }
        }
    })
}
