//! `products`: the product catalogue of the reference API, with images in blob storage.
//!
//! | route                                          | auth         | does                               |
//! |------------------------------------------------|--------------|------------------------------------|
//! | `POST /v1/product`                             | Basic        | 201 with the product; you own it   |
//! | `GET /v1/product/{productId}`                  | —            | the product, its version as `ETag` |
//! | `PUT /v1/product/{productId}`                  | Basic, owner | replace all fields: 204            |
//! | `PATCH /v1/product/{productId}`                | Basic, owner | change some fields: 204            |
//!
//! `PUT` and `PATCH` take an optional `If-Match: <ETag>`: with it, a product changed
//! since is 412; without it, concurrent updates are applied one after the other.
//! | `DELETE /v1/product/{productId}`               | Basic, owner | delete it and its images: 204      |
//! | `POST /v1/product/{productId}/image`           | Basic, owner | upload image bytes: 201            |
//! | `GET /v1/product/{productId}/image`            | —            | its images, with download URLs     |
//! | `GET /v1/product/{productId}/image/{imageId}`  | —            | one image, with a download URL     |
//! | `DELETE /v1/product/{productId}/image/{imageId}` | Basic, owner | delete it: 204                   |
//!
//! Storage: kv store `products` (read-write), kv store `users` (read, to check Basic
//! credentials) and blob container `images`. Layout of `products`:
//!
//! | key                           | value                                  |
//! |-------------------------------|----------------------------------------|
//! | `product/<id>`                | [`Product`] as JSON                    |
//! | `sku/<sku>`                   | the product id: makes SKUs unique      |
//! | `image/<productId>/<imageId>` | [`Image`] as JSON                      |
//!
//! Image bodies are the objects `<productId>/<imageId>` of the `images` container.
//! A SKU is unique even under concurrent requests: the SKU index entry and the product
//! are written in one transaction with create-only (and compare-and-swap) conditions.

use accounts::{StoredUser, USERS_STORE, authenticate, forbidden};
use plughost_sdk::blob::{self, Container};
use plughost_sdk::kv::{Condition, StorageError, Store, Write, WriteOptions};
use plughost_sdk::{Error, Json, Request, Response, Router, StatusCode};
use serde::{Deserialize, Serialize};

const PRODUCTS_STORE: &str = "products";
const IMAGES: &str = "images";
/// How long an image download URL works.
const DOWNLOAD_URL_SECONDS: u32 = 3600;
/// Image types accepted for upload.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

pub fn handle(req: Request) -> Response {
    Router::new()
        .post("/v1/product", create_product)
        .get("/v1/product/{productId}", get_product)
        .put("/v1/product/{productId}", replace_product)
        .patch("/v1/product/{productId}", patch_product)
        .delete("/v1/product/{productId}", delete_product)
        .post("/v1/product/{productId}/image", upload_image)
        .get("/v1/product/{productId}/image", list_images)
        .get("/v1/product/{productId}/image/{imageId}", get_image)
        .delete("/v1/product/{productId}/image/{imageId}", delete_image)
        .handle(req)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub sku: String,
    pub manufacturer: String,
    pub quantity: u8,
    pub date_added: String,
    pub date_last_updated: String,
    pub owner_user_id: String,
}

/// The body of `POST` and `PUT`: every field, nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductFields {
    pub name: String,
    pub description: String,
    pub sku: String,
    pub manufacturer: String,
    pub quantity: i64,
}

/// The body of `PATCH`: some fields, nothing else.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sku: Option<String>,
    pub manufacturer: Option<String>,
    pub quantity: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Image {
    pub image_id: String,
    pub product_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub date_created: String,
    /// The object key in the `images` container.
    pub blob_key: String,
}

/// An image as clients see it: the record (without its storage key) plus a
/// time-limited download URL.
#[derive(Serialize)]
struct ImageView {
    image_id: String,
    product_id: String,
    file_name: String,
    content_type: String,
    size: u64,
    date_created: String,
    download_url: String,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::bad_request(format!("{field} must be 1 to {max} characters")));
    }
    Ok(value.to_owned())
}

fn quantity(value: i64) -> Result<u8, Error> {
    u8::try_from(value)
        .ok()
        .filter(|q| *q <= 100)
        .ok_or_else(|| Error::bad_request("quantity must be an integer from 0 to 100"))
}

/// SKUs: 1..=64 of letters, digits, `-`, `_`, `.` (they are part of a storage key).
fn sku(value: &str) -> Result<String, Error> {
    let value = value.trim();
    let valid =
        !value.is_empty() && value.len() <= 64 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(Error::bad_request("sku must be 1 to 64 letters, digits, `-`, `_` or `.`"));
    }
    Ok(value.to_owned())
}

impl Product {
    /// Applies every given field, validated; returns whether the SKU changed.
    pub fn apply(&mut self, patch: ProductPatch) -> Result<(), Error> {
        if let Some(name) = patch.name {
            self.name = text("name", &name, 200)?;
        }
        if let Some(description) = patch.description {
            self.description = text("description", &description, 2000)?;
        }
        if let Some(new_sku) = patch.sku {
            self.sku = sku(&new_sku)?;
        }
        if let Some(manufacturer) = patch.manufacturer {
            self.manufacturer = text("manufacturer", &manufacturer, 200)?;
        }
        if let Some(q) = patch.quantity {
            self.quantity = quantity(q)?;
        }
        Ok(())
    }
}

impl From<ProductFields> for ProductPatch {
    fn from(f: ProductFields) -> Self {
        Self {
            name: Some(f.name),
            description: Some(f.description),
            sku: Some(f.sku),
            manufacturer: Some(f.manufacturer),
            quantity: Some(f.quantity),
        }
    }
}

fn product_key(id: &str) -> String {
    format!("product/{id}")
}

fn sku_key(sku: &str) -> String {
    format!("sku/{}", sku.to_lowercase())
}

fn image_key(product_id: &str, image_id: &str) -> String {
    format!("image/{product_id}/{image_id}")
}

fn options(condition: Condition) -> WriteOptions {
    WriteOptions { condition, ttl_seconds: None }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))
}

fn caller(req: &Request) -> Result<StoredUser, Error> {
    Ok(authenticate(req, &Store::open(USERS_STORE)?)?.0)
}

fn load(products: &Store, id: &str) -> Result<(Product, u64), Error> {
    products.get_json::<Product>(&product_key(id))?.ok_or_else(|| Error::not_found("no such product"))
}

/// The product the path names, which the authenticated caller must own.
fn owned(req: &Request, products: &Store) -> Result<(Product, u64), Error> {
    let user = caller(req)?;
    let (product, version) = load(products, req.require_param("productId")?)?;
    if product.owner_user_id != user.id {
        return Err(forbidden());
    }
    Ok((product, version))
}

fn sku_taken() -> Error {
    Error::bad_request("a product with this sku already exists")
}

fn create_product(req: Request) -> Result<(StatusCode, Json<Product>), Error> {
    let user = caller(&req)?;
    let fields: ProductFields = req.json()?;
    let now = accounts::now();
    let mut product = Product {
        id: accounts::new_id(),
        name: String::new(),
        description: String::new(),
        sku: String::new(),
        manufacturer: String::new(),
        quantity: 0,
        date_added: now.clone(),
        date_last_updated: now,
        owner_user_id: user.id,
    };
    product.apply(fields.into())?;
    let products = Store::open(PRODUCTS_STORE)?;
    let writes = [
        Write::Set((sku_key(&product.sku), product.id.clone().into_bytes(), options(Condition::Absent))),
        Write::Set((product_key(&product.id), to_json(&product)?, options(Condition::Absent))),
    ];
    match products.transact(&writes) {
        Ok(_) => Ok((StatusCode::CREATED, Json(product))),
        Err(StorageError::Conflict) => Err(sku_taken()),
        Err(other) => Err(other.into()),
    }
}

/// The product, with its version as `ETag`: send it back as `If-Match` to change the
/// product only if nobody else did meanwhile.
fn get_product(req: Request) -> Result<Response, Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    let (product, version) = load(&products, req.require_param("productId")?)?;
    Ok(Response::json(StatusCode::OK, &product).header("etag", format!("\"{version}\"")))
}

/// How often an update re-reads and re-applies itself when another one won the race.
const MAX_UPDATE_ATTEMPTS: u32 = 16;

/// The pause after a lost race: random up to 1, 2, 4, ... 32 ms, so racing updates spread
/// out instead of colliding again (at most ~0.4 s over all attempts).
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(1 + accounts::random_below(1 << attempt.min(5)))
}

/// The version a client's `If-Match` names (an `ETag` from `GET`), if it sent one.
fn if_match(req: &Request) -> Result<Option<u64>, Error> {
    let Some(raw) = req.header("if-match") else { return Ok(None) };
    let version = raw.trim().trim_start_matches("W/").trim_matches('"');
    version.parse().map(Some).map_err(|_| Error::bad_request("If-Match must be an ETag returned by GET"))
}

fn precondition_failed() -> Error {
    Error::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", "the product changed since that ETag")
}

fn replace_product(req: Request) -> Result<StatusCode, Error> {
    let fields: ProductFields = req.json()?;
    update_product(&req, fields.into())
}

fn patch_product(req: Request) -> Result<StatusCode, Error> {
    let patch: ProductPatch = req.json()?;
    let empty = patch.name.is_none()
        && patch.description.is_none()
        && patch.sku.is_none()
        && patch.manufacturer.is_none()
        && patch.quantity.is_none();
    if empty {
        return Err(Error::bad_request("give at least one field to change"));
    }
    update_product(&req, patch)
}

/// Applies `patch` to an owned product: one transaction that checks nobody changed the
/// product meanwhile and, when the SKU changes, claims the new SKU (create-only) and
/// releases the old one.
///
/// Concurrent updates of one product race on its version. Without `If-Match` the client
/// asked for "these fields, on whatever is there": a lost race is re-read and re-applied
/// (up to [`MAX_UPDATE_ATTEMPTS`]), not returned as a conflict. With `If-Match` the client
/// asked for "only on that version": a lost race is 412.
fn update_product(req: &Request, patch: ProductPatch) -> Result<StatusCode, Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    // Authenticate once: the password check is the expensive part, not the retry.
    let user = caller(req)?;
    let id = req.require_param("productId")?;
    let expected = if_match(req)?;
    for attempt in 1..=MAX_UPDATE_ATTEMPTS {
        let (mut product, version) = load(&products, id)?;
        if product.owner_user_id != user.id {
            return Err(forbidden());
        }
        if expected.is_some_and(|expected| expected != version) {
            return Err(precondition_failed());
        }
        let old_sku = product.sku.clone();
        product.apply(patch.clone())?;
        product.date_last_updated = accounts::now();
        let mut writes =
            vec![Write::Set((product_key(&product.id), to_json(&product)?, options(Condition::Version(version))))];
        let sku_changed = sku_key(&old_sku) != sku_key(&product.sku);
        if sku_changed {
            writes.push(Write::Set((
                sku_key(&product.sku),
                product.id.clone().into_bytes(),
                options(Condition::Absent),
            )));
            writes.push(Write::Delete((sku_key(&old_sku), Condition::Always)));
        }
        match products.transact(&writes) {
            Ok(_) => return Ok(StatusCode::NO_CONTENT),
            // Either the SKU is taken, or the product changed under us: tell which.
            Err(StorageError::Conflict) if sku_changed && products.exists(&sku_key(&product.sku))? => {
                return Err(sku_taken());
            }
            Err(StorageError::Conflict) if expected.is_some() => return Err(precondition_failed()),
            Err(StorageError::Conflict) if attempt < MAX_UPDATE_ATTEMPTS => std::thread::sleep(backoff(attempt)),
            Err(other) => return Err(other.into()),
        }
    }
    Err(Error::conflict("the product kept changing while it was updated; retry"))
}

fn delete_product(req: Request) -> Result<StatusCode, Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    let (product, version) = owned(&req, &products)?;
    let writes = [
        Write::Delete((product_key(&product.id), Condition::Version(version))),
        Write::Delete((sku_key(&product.sku), Condition::Always)),
    ];
    products.transact(&writes)?;
    // The product is gone; now its images. A failure here leaves unreachable images
    // behind, never a product without its images.
    let images = Container::open(IMAGES)?;
    for image in images_of(&products, &product.id)? {
        images.delete(&image.blob_key)?;
        products.delete(&image_key(&product.id, &image.image_id))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

fn upload_image(req: Request) -> Result<(StatusCode, Json<ImageView>), Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    let (product, _) = owned(&req, &products)?;
    let content_type = req.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_lowercase();
    if !IMAGE_TYPES.contains(&content_type.as_str()) {
        return Err(Error::unsupported_media_type(format!("send the image with one of: {}", IMAGE_TYPES.join(", "))));
    }
    if req.body().is_empty() {
        return Err(Error::bad_request("the image is empty"));
    }
    let image_id = accounts::new_id();
    let file_name = match req.query("file_name") {
        Some(name) => text("file_name", name, 255)?,
        None => image_id.clone(),
    };
    let blob_key = format!("{}/{image_id}", product.id);
    let images = Container::open(IMAGES)?;
    let put = blob::PutOptions {
        content_type: content_type.clone(),
        metadata: vec![("product-id".into(), product.id.clone())],
        condition: blob::PutCondition::Absent,
    };
    let stored = images.put_with(&blob_key, req.body(), &put)?;
    let image = Image {
        image_id,
        product_id: product.id.clone(),
        file_name,
        content_type,
        size: stored.size,
        date_created: accounts::now(),
        blob_key,
    };
    if let Err(error) = products.create_json(&image_key(&product.id, &image.image_id), &image) {
        let _ = images.delete(&image.blob_key);
        return Err(error);
    }
    let view = view(&images, image)?;
    Ok((StatusCode::CREATED, Json(view)))
}

fn view(images: &Container, image: Image) -> Result<ImageView, Error> {
    let download_url = images.presign_get(&image.blob_key, DOWNLOAD_URL_SECONDS)?;
    let Image { image_id, product_id, file_name, content_type, size, date_created, blob_key: _ } = image;
    Ok(ImageView { image_id, product_id, file_name, content_type, size, date_created, download_url })
}

/// Every image record of a product, page by page.
fn images_of(products: &Store, product_id: &str) -> Result<Vec<Image>, Error> {
    let prefix = format!("image/{product_id}/");
    let mut images = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = products.list(&prefix, cursor.as_deref(), 100)?;
        for entry in products.get_many(&page.keys)?.into_iter().flatten() {
            let image: Image = serde_json::from_slice(&entry.value)
                .map_err(|e| Error::internal(format!("corrupt image record: {e}")))?;
            images.push(image);
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(images),
        }
    }
}

fn list_images(req: Request) -> Result<Json<Vec<ImageView>>, Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    let (product, _) = load(&products, req.require_param("productId")?)?;
    let images = Container::open(IMAGES)?;
    let views = images_of(&products, &product.id)?.into_iter().map(|i| view(&images, i)).collect::<Result<_, _>>()?;
    Ok(Json(views))
}

fn get_image(req: Request) -> Result<Json<ImageView>, Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    let key = image_key(req.require_param("productId")?, req.require_param("imageId")?);
    let (image, _) = products.get_json::<Image>(&key)?.ok_or_else(|| Error::not_found("no such image"))?;
    Ok(Json(view(&Container::open(IMAGES)?, image)?))
}

fn delete_image(req: Request) -> Result<StatusCode, Error> {
    let products = Store::open(PRODUCTS_STORE)?;
    let (product, _) = owned(&req, &products)?;
    let key = image_key(&product.id, req.require_param("imageId")?);
    let (image, _) = products.get_json::<Image>(&key)?.ok_or_else(|| Error::not_found("no such image"))?;
    Container::open(IMAGES)?.delete(&image.blob_key)?;
    products.delete(&key)?;
    Ok(StatusCode::NO_CONTENT)
}

plughost_sdk::plugin!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        Product {
            id: "p1".into(),
            name: "Lamp".into(),
            description: "A lamp".into(),
            sku: "LAMP-1".into(),
            manufacturer: "Acme".into(),
            quantity: 5,
            date_added: "t0".into(),
            date_last_updated: "t0".into(),
            owner_user_id: "u1".into(),
        }
    }

    #[test]
    fn quantity_must_be_an_integer_from_0_to_100() {
        for bad in [-1, 101, 1000] {
            let patch = ProductPatch { quantity: Some(bad), ..Default::default() };
            assert_eq!(product().apply(patch).unwrap_err().status(), 400, "{bad}");
        }
        let mut p = product();
        p.apply(ProductPatch { quantity: Some(100), ..Default::default() }).unwrap();
        assert_eq!(p.quantity, 100);
        // Wrong JSON types never reach `apply`: serde refuses them.
        assert!(serde_json::from_str::<ProductPatch>(r#"{"quantity":"5"}"#).is_err());
        assert!(serde_json::from_str::<ProductPatch>(r#"{"quantity":5.5}"#).is_err());
        assert!(serde_json::from_str::<ProductPatch>(r#"{"owner_user_id":"me"}"#).is_err());
    }

    #[test]
    fn skus_and_texts_are_validated() {
        let mut p = product();
        assert_eq!(
            p.apply(ProductPatch { sku: Some("has space".into()), ..Default::default() }).unwrap_err().status(),
            400
        );
        assert_eq!(p.apply(ProductPatch { name: Some("   ".into()), ..Default::default() }).unwrap_err().status(), 400);
        p.apply(ProductPatch { sku: Some(" LAMP-2 ".into()), ..Default::default() }).unwrap();
        assert_eq!(p.sku, "LAMP-2");
        assert_eq!(sku_key("Lamp-2"), sku_key("LAMP-2"), "SKUs are unique regardless of case");
    }
}
