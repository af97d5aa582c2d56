ES = {
    "This page is for privacy officers": "Esta página es para los responsables de privacidad",
    "Your account does not have access to it. If you need it, ask an operator to grant you the officer role.": "Tu cuenta no tiene acceso. Si lo necesitas, pide a un operador que te asigne el rol de responsable de privacidad.",
}
