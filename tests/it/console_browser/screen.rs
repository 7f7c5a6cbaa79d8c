//! The screens the console is shown on (a desktop at 1280×800, a phone at
//! 390×844), light or dark, and their screenshots: PNGs of the viewport in
//! the directory `super::screenshots` names.

use chromiumoxide::cdp::browser_protocol::emulation::{
    MediaFeature, SetDeviceMetricsOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::ScreenshotParams;

use super::ui::Ui;

/// A screen size.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub name: &'static str,
    pub width: i64,
    pub height: i64,
    pub mobile: bool,
}

pub const DESKTOP: Screen = Screen {
    name: "desktop",
    width: 1280,
    height: 800,
    mobile: false,
};

pub const PHONE: Screen = Screen {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};

impl Ui {
    /// Sets the screen size and colour scheme.
    pub async fn screen(&self, screen: Screen, dark: bool) {
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(
                screen.width,
                screen.height,
                1.0,
                screen.mobile,
            ))
            .await
            .unwrap();
        let scheme = MediaFeature {
            name: "prefers-color-scheme".to_owned(),
            value: if dark { "dark" } else { "light" }.to_owned(),
        };
        self.page
            .emulate_media_features(vec![scheme])
            .await
            .unwrap();
    }

    /// A PNG of the viewport as `<name>-<screen>[-dark].png` in the
    /// screenshot directory.
    pub async fn screenshot(&self, name: &str, screen: Screen, dark: bool) {
        self.screen(screen, dark).await;
        // Two frames, so the new size and scheme are laid out and painted.
        self.eval(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
        )
        .await;
        let png = self
            .page
            .screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .build(),
            )
            .await
            .unwrap();
        let dir = super::screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        let scheme = if dark { "-dark" } else { "" };
        std::fs::write(dir.join(format!("{name}-{}{scheme}.png", screen.name)), png).unwrap();
    }
}
