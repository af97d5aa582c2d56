"""Spanish for the msgids added on the lifecycle branch (merged by the integrator)."""

ES = {
    "This account has been disabled, so you cannot sign in with it. If you think this is a "
    "mistake, contact our customer service.": "Esta cuenta está desactivada, así que no puedes "
    "iniciar sesión con ella. Si crees que es un error, ponte en contacto con nuestro servicio "
    "de atención al cliente.",
}
