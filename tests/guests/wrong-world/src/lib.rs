//! Test guest `wrong-world`: a well-formed component that imports an interface the host
//! does not provide and does not export `plughost:plugin/handler`. Loading it must fail
//! with an error naming the plugin and the unknown import — never at request time.

wit_bindgen::generate!({
    inline: r#"
        package acme:elsewhere@1.0.0;

        interface clock-tower {
            ring: func(times: u32);
        }

        world other {
            import clock-tower;
            export run: func() -> u32;
        }
    "#,
});

struct Other;

impl Guest for Other {
    fn run() -> u32 {
        acme::elsewhere::clock_tower::ring(3);
        3
    }
}

export!(Other);
