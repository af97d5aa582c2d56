"""Spanish for the msgids added by the continuity branch (issue 14, part 4)."""

ES = {
    "Back to %(app)s": "Volver a %(app)s",
    "Choose a country": "Elige un país",
    "Choose a country from the list.": "Elige un país de la lista.",
    "Country": "País",
    "Enter a phone number with its country prefix, like +34 600 123 456.": (
        "Escribe un teléfono con su prefijo de país, como +34 600 123 456."
    ),
    "Enter your password.": "Escribe tu contraseña.",
    "Not you? Switch account": "¿No eres tú? Cambiar de cuenta",
    "Please correct the following:": "Corrige lo siguiente:",
    "Read %(app)s's privacy policy": "Lee la política de privacidad de %(app)s",
    "Show": "Mostrar",
    "Show password": "Mostrar contraseña",
    "With the country prefix, like +34 600 123 456. Spaces are fine.": (
        "Con el prefijo de país, como +34 600 123 456. Puedes poner espacios."
    ),
}
