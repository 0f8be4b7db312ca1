//! Writes a contact sheet (PPM) of every background and shape: `cargo run -p kino-world
//! --example contact -- out.ppm`.

use kino_world::{Background, Colour, Motion, Object, RenderSettings, SceneSpec, Shape, render};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "contact.ppm".to_string());
    let (w, h, frames) = (128u32, 96u32, 6u32);
    let rows: Vec<SceneSpec> = Background::ALL
        .iter()
        .enumerate()
        .map(|(i, &bg)| {
            let a = Object::new(Colour::ALL[i], Shape::ALL[i % 4], Motion::ALL[1 + i % 8]);
            let b = Object::new(
                Colour::ALL[(i + 5) % 8],
                Shape::ALL[(i + 1) % 4],
                Motion::Spinning,
            );
            SceneSpec::new(vec![a, b], bg)
        })
        .collect();
    let (sw, sh) = (w * frames, h * rows.len() as u32);
    let mut sheet = vec![0u8; (sw * sh * 3) as usize];
    for (r, spec) in rows.iter().enumerate() {
        let clip = render(
            spec,
            &RenderSettings {
                width: w,
                height: h,
                fps: 12.0,
                frames,
                seed: 7,
            },
        )?;
        eprintln!("row {r}: {spec}");
        for (f, frame) in clip.frames.iter().enumerate() {
            for y in 0..h {
                let src = &frame[(y * w * 3) as usize..((y + 1) * w * 3) as usize];
                let off = (((r as u32 * h + y) * sw + f as u32 * w) * 3) as usize;
                sheet[off..off + src.len()].copy_from_slice(src);
            }
        }
    }
    let mut out = std::fs::File::create(path)?;
    write!(out, "P6\n{sw} {sh}\n255\n")?;
    out.write_all(&sheet)?;
    Ok(())
}
