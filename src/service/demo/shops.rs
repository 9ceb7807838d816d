//! The demo's shops and producers around Lyon 8e: eight approved, one application waiting with
//! the committee's votes, one suspended, each with a till. SIRETs pass the Luhn check and IBANs
//! the mod-97 check (with a correct French RIB key); none belongs to a real business.

use std::collections::BTreeMap;

use crate::caller::Caller;
use crate::domain::shop::{Decision, ShopApplication, StatusChange, VoteChoice};
use crate::domain::{FundId, Role, ShopId, UserId};
use crate::service::shops::{NewTerminal, StatusNote, VoteRequest};
use crate::service::{self, shops};
use crate::store::Db;

struct DemoShop {
    name: &'static str,
    legal_name: &'static str,
    siret: &'static str,
    iban: &'static str,
    bic: &'static str,
    address: &'static str,
    categories: &'static [&'static str],
    criteria: &'static [(&'static str, &'static str)],
}

const APPROVED: [DemoShop; 8] = [
    DemoShop {
        name: "Les Jardins de Corbas",
        legal_name: "EARL Les Jardins de Corbas",
        siret: "80381235300099",
        iban: "FR7617806002714921833451523",
        bic: "AGRIFRPP878",
        address: "Chemin des Brosses, 69960 Corbas",
        categories: &["fruits_legumes"],
        criteria: &[
            (
                "locality",
                "Maraîchage à 9 km du 8e, vente directe au marché Monplaisir",
            ),
            (
                "sustainable_practice",
                "Certifié AB depuis 2016, pas de serres chauffées",
            ),
            (
                "price_transparency",
                "Prix au kilo affichés, identiques pour tous",
            ),
        ],
    },
    DemoShop {
        name: "Le Fournil de Monplaisir",
        legal_name: "SARL Le Fournil de Monplaisir",
        siret: "35875845600067",
        iban: "FR7610278073109631871018236",
        bic: "CMCIFR2A",
        address: "42 avenue des Frères Lumière, 69008 Lyon",
        categories: &["boulangerie"],
        criteria: &[
            ("locality", "Farines d'un moulin de l'Ain (60 km)"),
            (
                "working_conditions",
                "Trois salariés en CDI, pas de travail de nuit le dimanche",
            ),
        ],
    },
    DemoShop {
        name: "La Cagette du 8e",
        legal_name: "SCIC La Cagette du 8e",
        siret: "97962541500141",
        iban: "FR7642559100003165250734645",
        bic: "CCOPFRPP",
        address: "15 rue Professeur Beauvisage, 69008 Lyon",
        categories: &["epicerie", "fruits_legumes", "produits_laitiers"],
        criteria: &[
            (
                "price_transparency",
                "Marge unique de 20 % affichée en rayon",
            ),
            (
                "accessibility",
                "Ouvert six jours sur sept, rampe d'accès, accueil en arabe et en anglais",
            ),
        ],
    },
    DemoShop {
        name: "AMAP des États-Unis",
        legal_name: "Association AMAP des États-Unis",
        siret: "34065955600302",
        iban: "FR7620041010078862038327307",
        bic: "PSSTFRPPLYO",
        address: "Maison de quartier, 3 boulevard des États-Unis, 69008 Lyon",
        categories: &["amap", "fruits_legumes"],
        criteria: &[
            ("locality", "Paniers de quatre fermes à moins de 40 km"),
            (
                "sustainable_practice",
                "Contrats annuels avec les producteurs, préfinancement des récoltes",
            ),
        ],
    },
    DemoShop {
        name: "Fromagerie Ambroise-Courtois",
        legal_name: "SAS Fromagerie Courtois",
        siret: "82409069000325",
        iban: "FR7613907000006322291812182",
        bic: "CCBPFRPPLYO",
        address: "7 place Ambroise-Courtois, 69008 Lyon",
        categories: &["produits_laitiers"],
        criteria: &[(
            "locality",
            "Fromages fermiers du Pilat et des monts du Lyonnais",
        )],
    },
    DemoShop {
        name: "Boucherie du Grand Trou",
        legal_name: "Boucherie du Grand Trou SARL",
        siret: "84047300300068",
        iban: "FR7616807000322923135658927",
        bic: "CCBPFRPPGRE",
        address: "88 rue Laënnec, 69008 Lyon",
        categories: &["viande_poisson"],
        criteria: &[(
            "locality",
            "Bêtes élevées dans la Loire, abattoir de Roanne",
        )],
    },
    DemoShop {
        name: "Vergers des Monts du Lyonnais",
        legal_name: "GAEC des Vergers du Lyonnais",
        siret: "32683187200451",
        iban: "FR7610096185223314825748858",
        bic: "CMCIFRPP",
        address: "Lieu-dit La Croix, 69850 Saint-Martin-en-Haut",
        categories: &["fruits_legumes"],
        criteria: &[(
            "sustainable_practice",
            "Vergers en conversion bio, haies replantées",
        )],
    },
    DemoShop {
        name: "Cantine solidaire Le Bol",
        legal_name: "Association Le Bol",
        siret: "84715717900312",
        iban: "FR7630004008197086523424237",
        bic: "BNPAFRPPLYO",
        address: "24 avenue Paul Santy, 69008 Lyon",
        categories: &["restauration"],
        criteria: &[(
            "accessibility",
            "Repas du midi à prix libre, salle accessible en fauteuil",
        )],
    },
];

const PENDING: DemoShop = DemoShop {
    name: "Chèvrerie du Pilat",
    legal_name: "GAEC de la Chèvrerie du Pilat",
    siret: "64676050400076",
    iban: "FR7642559100009168278382347",
    bic: "CCOPFRPP",
    address: "Lieu-dit Le Plat, 42410 Pélussin",
    categories: &["produits_laitiers"],
    criteria: &[
        (
            "locality",
            "Ferme à 55 km, livraison le jeudi à la Cagette du 8e",
        ),
        (
            "working_conditions",
            "Deux associés et une salariée à temps plein",
        ),
        (
            "price_transparency",
            "Tarifs publiés sur le site de la ferme",
        ),
        (
            "sustainable_practice",
            "Pâturage 8 mois par an, foin produit sur place",
        ),
        (
            "accessibility",
            "Vente à la ferme le samedi matin seulement",
        ),
    ],
};

const SUSPENDED: DemoShop = DemoShop {
    name: "Primeurs du Bachut",
    legal_name: "Primeurs du Bachut SARL",
    siret: "80627616800077",
    iban: "FR7617806005335281057137660",
    bic: "AGRIFRPP878",
    address: "210 avenue Berthelot, 69008 Lyon",
    categories: &["fruits_legumes"],
    criteria: &[(
        "locality",
        "Grossiste du marché de gros de Corbas, producteurs de la région",
    )],
};

/// Other committee members, so the pending application has more than one vote.
pub const EXTRA_COMMITTEE: [&str; 2] =
    ["comite.amina@demo.caisse.fr", "comite.lucas@demo.caisse.fr"];

fn demo_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("demo shops: {e}")
}

async fn apply(db: &Db, fund: &str, s: &DemoShop, by: &str) -> anyhow::Result<ShopId> {
    let application = ShopApplication {
        name: s.name.into(),
        legal_name: s.legal_name.into(),
        siret: Some(s.siret.into()),
        iban: s.iban.into(),
        bic: Some(s.bic.into()),
        address: s.address.into(),
        categories: s.categories.iter().map(|c| c.to_string()).collect(),
        criteria: s
            .criteria
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    Ok(
        shops::apply(db, &as_user(fund, by, Role::Committee), &application)
            .await
            .map_err(demo_err)?
            .id,
    )
}

/// The demo acts as the fund's own people would, through the same use cases.
fn as_user(fund: &str, user: &str, role: Role) -> Caller {
    Caller::User {
        fund: FundId::new(fund),
        user: UserId::new(user),
        role,
        member: None,
    }
}

async fn vote(
    db: &Db,
    fund: &str,
    shop: &ShopId,
    voter: &str,
    choice: VoteChoice,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    let req = VoteRequest {
        choice,
        comment: comment.map(String::from),
    };
    shops::vote(db, &as_user(fund, voter, Role::Committee), shop, req)
        .await
        .map_err(demo_err)?;
    Ok(())
}

async fn till(
    db: &Db,
    fund: &str,
    admin: &str,
    shop: &ShopId,
    label: &str,
) -> anyhow::Result<String> {
    let req = NewTerminal {
        label: label.into(),
    };
    let created = shops::create_terminal(db, &as_user(fund, admin, Role::Admin), shop, req)
        .await
        .map_err(demo_err)?;
    Ok(created.api_key)
}

/// What the demo printed once: a till key and its shop.
pub struct DemoTill {
    pub shop_name: &'static str,
    pub api_key: String,
}

/// Creates the shops; `admin` decides, `committee` votes. Answers the key of the bakery's till
/// (every other key is thrown away: shown once, never stored).
pub async fn fill(
    db: &Db,
    fund: &str,
    admin: &str,
    committee: &str,
    password: &str,
) -> anyhow::Result<DemoTill> {
    let today = crate::domain::today();
    let in_a_year = today + chrono::Months::new(12);
    let mut shown_key = None;
    for (i, s) in APPROVED.iter().enumerate() {
        let id = apply(db, fund, s, committee).await?;
        vote(db, fund, &id, committee, VoteChoice::For, None).await?;
        // The butcher's approval is a year old: its review is due today.
        let review_on = if s.name.starts_with("Boucherie") {
            today
        } else {
            in_a_year
        };
        shops::record_decision(
            db,
            &as_user(fund, admin, Role::Admin),
            &id,
            Decision::Approved,
            Some("Conventionné après visite du comité"),
            Some(review_on),
        )
        .await
        .map_err(demo_err)?;
        let key = till(db, fund, admin, &id, "Caisse 1").await?;
        if i == 1 {
            shown_key = Some(key);
        }
    }

    let pending = apply(db, fund, &PENDING, committee).await?;
    let mut voters = vec![committee.to_string()];
    for email in EXTRA_COMMITTEE {
        let u = service::users::create(
            db,
            &FundId::new(fund),
            email,
            password,
            Role::Committee,
            None,
        )
        .await
        .map_err(demo_err)?;
        voters.push(u.id);
    }
    let votes = [
        (
            VoteChoice::For,
            Some("Visite faite : très bon accueil, prix justes"),
        ),
        (VoteChoice::For, None),
        (
            VoteChoice::Abstain,
            Some("La vente à la ferme le samedi seulement limite l'accès"),
        ),
    ];
    for (voter, (choice, comment)) in voters.iter().zip(votes) {
        vote(db, fund, &pending, voter, choice, comment).await?;
    }
    till(db, fund, admin, &pending, "Marché du samedi").await?;

    let suspended = apply(db, fund, &SUSPENDED, committee).await?;
    vote(db, fund, &suspended, committee, VoteChoice::For, None).await?;
    let admin_caller = as_user(fund, admin, Role::Admin);
    shops::record_decision(
        db,
        &admin_caller,
        &suspended,
        Decision::Approved,
        None,
        Some(in_a_year),
    )
    .await
    .map_err(demo_err)?;
    till(db, fund, admin, &suspended, "Caisse 1").await?;
    let note = StatusNote {
        note: Some("Origine des produits non affichée lors de la visite du comité".into()),
    };
    shops::change_status(db, &admin_caller, &suspended, StatusChange::Suspended, note)
        .await
        .map_err(demo_err)?;

    Ok(DemoTill {
        shop_name: APPROVED[1].name,
        api_key: shown_key.expect("at least two approved shops"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::FundSettings;

    #[test]
    fn demo_shops_are_valid_applications() {
        let settings = FundSettings::example();
        let all = APPROVED.iter().chain([&PENDING, &SUSPENDED]);
        for s in all {
            let app = ShopApplication {
                name: s.name.into(),
                legal_name: s.legal_name.into(),
                siret: Some(s.siret.into()),
                iban: s.iban.into(),
                bic: Some(s.bic.into()),
                address: s.address.into(),
                categories: s.categories.iter().map(|c| c.to_string()).collect(),
                criteria: s
                    .criteria
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            assert!(app.validate(&settings).is_ok(), "{}", s.name);
        }
    }
}
