//! `GET /urls/{id}/qr`: the SVG and the PNG decode back to the link's short URL (read with
//! the `rqrr` decoder); bad formats and sizes are 422, unknown links 404.

use crate::common::prelude::*;

/// Decodes a QR code from a greyscale image.
fn decode(width: usize, height: usize, pixel: impl FnMut(usize, usize) -> u8) -> String {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("a readable code").1
}

/// The squares of the SVG's path (`M{x} {y}h1v1h-1z`), drawn 4 pixels a module.
fn decode_svg(svg: &str) -> String {
    let side: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a view box");
    let path = svg.split(" d=\"").nth(1).expect("a path");
    let path = &path[..path.find('"').expect("the path's end")];
    let mut dark = vec![false; side * side];
    for square in path.split('z').filter(|s| !s.is_empty()) {
        let corner = square.trim_start_matches('M').split('h').next().unwrap();
        let (x, y) = corner.split_once(' ').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        dark[y * side + x] = true;
    }
    let scale = 4;
    decode(side * scale, side * scale, |x, y| {
        if dark[(y / scale) * side + x / scale] {
            0
        } else {
            255
        }
    })
}

#[tokio::test]
async fn the_svg_and_the_png_decode_to_the_short_url() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/scanned").await;
    let short = format!("{}/{}", app.address, str_of(&url, "short_code"));

    let svg = app
        .get(&format!("/urls/{}/qr", id_of(&url)))
        .await
        .expect(200);
    assert_eq!(svg.header("content-type").as_deref(), Some("image/svg+xml"));
    assert_eq!(decode_svg(&svg.body), short);

    let png = app
        .client
        .get(format!(
            "{}/urls/{}/qr?format=png&size=300",
            app.address,
            id_of(&url)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    assert!(frame.width <= 300 && frame.width > 200, "{}", frame.width);
    let (w, h) = (frame.width as usize, frame.height as usize);
    assert_eq!(decode(w, h, |x, y| pixels[y * w + x]), short);
}

#[tokio::test]
async fn the_public_url_names_the_short_link_and_bad_asks_are_refused() {
    let app = spawn_app_with(|settings| {
        settings.public_url = Some("https://ku.rz/".parse().unwrap());
    })
    .await;
    let url = app.shorten("https://example.com/public").await;
    let id = id_of(&url);
    let svg = app.get(&format!("/urls/{id}/qr")).await.expect(200);
    assert_eq!(
        decode_svg(&svg.body),
        format!("https://ku.rz/{}", str_of(&url, "short_code"))
    );
    app.get(&format!("/urls/{id}/qr?format=gif"))
        .await
        .expect_invalid("format");
    for size in ["10", "5000", "big"] {
        app.get(&format!("/urls/{id}/qr?size={size}"))
            .await
            .expect_invalid("size");
    }
    app.get("/urls/999999/qr").await.expect_error(404);
}

/// The `Host` header is the client's to fill, as long as the header limit allows: one that
/// is no host and port is not put in the code (which could not hold it), and the code names
/// the link on `localhost`, as for a request with no `Host` at all.
#[tokio::test]
async fn a_host_header_that_is_no_host_is_left_out_of_the_code() {
    let app = spawn_app().await;
    let url = app.shorten("https://example.com/hosted").await;
    let code = str_of(&url, "short_code");
    for host in [format!("{}.example", "h".repeat(3_000)), "a@b/c".to_owned()] {
        let svg = app
            .client
            .get(format!("{}/urls/{}/qr", app.address, id_of(&url)))
            .header("Host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(svg.status(), 200, "{host}");
        let body = svg.text().await.unwrap();
        assert_eq!(decode_svg(&body), format!("http://localhost/{code}"));
    }
}
